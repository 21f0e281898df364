"""Adding a Snapshot space as a venue, against the real local hub and anvil: its settings read exactly, and
each refusal (unknown space, wrong chain, a strategy Lifeboat cannot recount, an approver that could not
approve) clear and writing nothing."""

from decimal import Decimal

import pytest

from chain.artifacts import bind, factory
from chain.demo import GOV_DECIMALS, holder_account
from chain.transact import send
from config.preflight import load_role_account
from governance.exceptions import ApproverRoleMissing, NotARecoveryExecutorVenue
from governance.models import SnapshotVenue
from governance.snapshot_errors import (
    SnapshotApproverNotAContract,
    SnapshotSpaceNotFound,
    SnapshotSpaceUnsupported,
    SnapshotUnavailable,
    SnapshotVenueNotFound,
)
from governance.snapshot_selectors import get_snapshot_venue, get_snapshot_venue_by_space, list_snapshot_venues
from governance.snapshot_venues import add_snapshot_venue, probe_snapshot_venue
from recovery.exceptions import ChainMismatch, InvalidInput
from tests.snapshot_hub import QUORUM, SPACE_ID, VOTING_PERIOD_SECONDS, demo_space, start_hub

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.fixture
def hub(anvil, demo, settings):
    settings.SNAPSHOT_HTTP_ATTEMPTS = 2
    settings.SNAPSHOT_HTTP_BACKOFF_SECONDS = 0.01
    foreign = {"name": "erc20-votes", "network": "1", "params": {"address": demo.address("token"), "decimals": 18}}
    spaces = [
        demo_space(demo),
        demo_space(demo, id="mainnet.eth", network="1", strategies=[foreign]),
        demo_space(
            demo,
            id="two-strategies.eth",
            strategies=[*demo_space(demo)["strategies"], {"name": "ticket", "params": {"symbol": "T"}}],
        ),
        demo_space(demo, id="whitelist.eth", strategies=[{"name": "whitelist", "params": {"addresses": []}}]),
        demo_space(
            demo,
            id="fractional.eth",
            voting={"delay": 5, "period": 60, "type": "", "quorum": 0.1},
            filters={"minScore": 0, "onlyMembers": False},
        ),
    ]
    process = start_hub(anvil.url, spaces)
    try:
        yield process
    finally:
        process.stop()


def _add(hub, demo, anvil, **overrides) -> SnapshotVenue:
    arguments = {
        "space": SPACE_ID,
        "sequencer_url": hub.sequencer_url,
        "hub_url": hub.graphql_url,
        "recovery_executor": demo.address("recovery_executor"),
        "approver": demo.committee,
        "rpc_url": anvil.url,
    }
    return add_snapshot_venue(**{**arguments, **overrides})


def test_a_space_is_read_exactly_and_adding_it_again_updates_the_same_venue(hub, demo, anvil):
    venue = _add(hub, demo, anvil)
    assert venue.chain_id == demo.chain_id
    assert venue.token == demo.address("token")
    assert venue.token_decimals == GOV_DECIMALS
    assert (venue.voting_delay, venue.voting_period, venue.voting_type) == (0, VOTING_PERIOD_SECONDS, "basic")
    assert int(venue.quorum) == int(Decimal(str(QUORUM)) * 10**GOV_DECIMALS)
    assert load_role_account("proposer").address in venue.authors
    assert venue.only_members is True
    assert venue.approver == demo.committee and venue.approver_kind == "key"
    assert venue.probed_at is not None

    again = _add(hub, demo, anvil, sequencer_url=hub.sequencer_url + "?v=2")
    assert again.pk == venue.pk and SnapshotVenue.objects.count() == 1
    assert again.sequencer_url.endswith("?v=2")
    assert probe_snapshot_venue(venue_id=venue.pk, rpc_url=anvil.url).pk == venue.pk
    assert get_snapshot_venue(venue.pk) == venue == get_snapshot_venue_by_space(SPACE_ID)
    assert list(list_snapshot_venues()) == [venue]


def test_a_fractional_quorum_becomes_exact_base_units(hub, demo, anvil):
    venue = _add(hub, demo, anvil, space="fractional.eth")
    assert int(venue.quorum) == 10**GOV_DECIMALS // 10
    assert Decimal(venue.hub_quorum) == Decimal("0.1")
    assert (venue.voting_delay, venue.voting_period, venue.voting_type, venue.only_members) == (5, 60, "", False)


def test_an_unknown_space_is_404_and_writes_nothing(hub, demo, anvil):
    with pytest.raises(SnapshotSpaceNotFound, match=r"has no space 'nobody\.eth'") as refused:
        _add(hub, demo, anvil, space="nobody.eth")
    assert refused.value.status == 404
    assert not SnapshotVenue.objects.exists()


def test_a_space_on_another_chain_is_refused(hub, demo, anvil):
    with pytest.raises(ChainMismatch, match=f"is on chain 1, but the node .* serves chain {demo.chain_id}"):
        _add(hub, demo, anvil, space="mainnet.eth")
    assert not SnapshotVenue.objects.exists()


@pytest.mark.parametrize("space", ["two-strategies.eth", "whitelist.eth"])
def test_a_space_lifeboat_cannot_recount_is_refused(hub, demo, anvil, space):
    with pytest.raises(SnapshotSpaceUnsupported, match="exactly one 'erc20-votes' strategy") as refused:
        _add(hub, demo, anvil, space=space)
    assert refused.value.status == 409
    assert not SnapshotVenue.objects.exists()


def test_an_approver_without_the_role_is_told_the_grant_to_send(hub, demo, anvil):
    outsider = holder_account(5).address
    with pytest.raises(ApproverRoleMissing) as refused:
        _add(hub, demo, anvil, approver=outsider)
    assert refused.value.status == 409
    assert refused.value.detail["grant"].startswith("grantRole(0x") and outsider in refused.value.detail["grant"]
    assert "grantRole(APPROVER_ROLE=0x" in refused.value.message
    assert not SnapshotVenue.objects.exists()


def test_a_safe_approver_must_be_a_contract_holding_the_role(w3, hub, demo, anvil, deployer, timelock):
    with pytest.raises(SnapshotApproverNotAContract, match="has no code") as refused:
        _add(hub, demo, anvil, approver=holder_account(5).address, approver_kind="safe")
    assert refused.value.status == 400

    safe = send(w3, deployer, factory(w3, "ERC1271Wallet").constructor(deployer.address))["contractAddress"]
    with pytest.raises(ApproverRoleMissing):
        _add(hub, demo, anvil, approver=safe, approver_kind="safe")
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    executor.functions.grantRole(executor.functions.APPROVER_ROLE().call(), safe).transact({"from": timelock})
    venue = _add(hub, demo, anvil, approver=safe, approver_kind="safe")
    assert (venue.approver, venue.approver_kind) == (safe, "safe")


def test_something_else_than_a_recovery_executor_is_refused(hub, demo, anvil):
    with pytest.raises(NotARecoveryExecutorVenue):
        _add(hub, demo, anvil, recovery_executor=demo.address("token"))


def test_bad_input_is_400(hub, demo, anvil):
    with pytest.raises(InvalidInput, match="not an address"):
        _add(hub, demo, anvil, approver="0x123")
    with pytest.raises(InvalidInput, match="neither 'key' nor 'safe'"):
        _add(hub, demo, anvil, approver_kind="multisig")
    with pytest.raises(InvalidInput, match="space id is empty"):
        _add(hub, demo, anvil, space=" ")


def test_a_hub_that_is_down_is_503(hub, demo, anvil):
    url = hub.graphql_url
    hub.stop()
    with pytest.raises(SnapshotUnavailable, match="did not answer after 2 attempts") as failed:
        _add(hub, demo, anvil, hub_url=url)
    assert failed.value.status == 503


def test_unknown_venues_are_404():
    with pytest.raises(SnapshotVenueNotFound):
        get_snapshot_venue(424242)
    with pytest.raises(SnapshotVenueNotFound, match=r"no Snapshot venue for space 'nope\.eth'"):
        get_snapshot_venue_by_space("nope.eth")
