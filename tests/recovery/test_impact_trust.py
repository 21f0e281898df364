"""Impact analyses that cannot be trusted blindly made trustworthy: no analysis stuck running,
the chain's identity and finality checked, stale snapshots never replayed, lost work re-queued,
and no RPC key in any stored error — all on a real anvil (a second one for the wrong chain)."""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from chain.anvil import Anvil, free_port
from chain.artifacts import bind, factory
from chain.balances import read_balances
from chain.errors import RpcUnavailable
from chain.transact import send
from recovery import impact, tasks
from recovery.exceptions import ChainMismatch, ChainUnavailable, InvalidInput
from recovery.fields import UINT256_MAX
from recovery.models import (
    AccountImpact,
    AnalysisStatus,
    BalanceSnapshot,
    ImpactAnalysis,
    Incident,
    IncidentStatus,
)
from tests.recovery.test_impact import _open, _request, _user
from tests.rpc_proxy import RpcProxy


def _mine(w3, blocks: int = 1) -> None:
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])


def _fresh_token(w3, deployer):
    """A new DemoAsset owned by ``deployer``: (contract, its deployment block)."""
    receipt = send(w3, deployer, factory(w3, "DemoAsset").constructor(deployer.address))
    return bind(w3, "DemoAsset", receipt["contractAddress"]), receipt["blockNumber"]


def _incident(token: str, **extra) -> Incident:
    return impact.open_incident(
        title="Token incident", kind="protocol_exploit", chain_id=31337, affected_tokens=[token], **extra
    )


# --- item 4: no analysis stuck running -------------------------------------------------------


@pytest.mark.django_db
def test_a_delta_of_the_whole_uint256_range_is_stored_and_the_analysis_completes(anvil, w3, demo, deployer, attacker):
    token, deployed = _fresh_token(w3, deployer)
    send(w3, deployer, token.functions.mint(deployer.address, UINT256_MAX))
    rollback = w3.eth.block_number
    send(w3, deployer, token.functions.transfer(attacker.address, UINT256_MAX))
    analysis = impact.request_impact(
        incident_id=_incident(token.address).pk,
        rpc_url=anvil.url,
        rollback_block=rollback,
        reference_block=w3.eth.block_number,
        from_block=deployed,
    )
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    rows = AccountImpact.objects.filter(analysis=analysis)
    assert rows.get(account=deployer.address).delta == -UINT256_MAX
    assert rows.get(account=attacker.address).delta == UINT256_MAX
    assert rows.get(delta=-UINT256_MAX).account == deployer.address
    assert list(rows.order_by("delta").values_list("delta", flat=True)) == [-UINT256_MAX, UINT256_MAX]
    assert rows.filter(delta__lt=0).count() == 1
    assert analysis.summary["assets"][token.address]["total_losses"] == str(UINT256_MAX)


@pytest.mark.django_db
@pytest.mark.parametrize("answer", [0, -5])
def test_a_price_feed_answering_zero_or_less_values_nothing_and_warns(anvil, w3, exploited, demo, deployer, answer):
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    send(w3, deployer, feed.functions.setAnswer(answer))
    analysis = impact.request_impact(
        incident_id=_open(exploited).pk,
        rpc_url=anvil.url,
        rollback_block=w3.eth.block_number,
        reference_block=w3.eth.block_number,
        assets=[exploited["vault"]],
        price_feed=feed.address,
    )
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert analysis.summary["price"] is None
    assert analysis.summary["assets"][exploited["vault"]]["total_losses_value"] is None
    [warning] = analysis.summary["warnings"]
    assert f"answered {answer}" in warning and "not valued" in warning


@pytest.mark.django_db
def test_a_healthy_price_feed_is_decoded_with_its_abi(anvil, exploited, demo):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]], price_feed=demo.address("price_feed"))
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    assert analysis.summary["price"] == {"answer": str(10**8), "decimals": 8}
    assert analysis.summary["warnings"] == []


@pytest.mark.django_db
def test_a_price_feed_without_code_or_whose_latest_round_data_reverts_is_refused_with_400(
    chain_settings, exploited, demo
):
    client = APIClient()
    client.force_authenticate(_user())
    url = reverse("incident-analyses", args=[_open(exploited).pk])
    good = {"rollback_block": exploited["rollback_block"], "reference_block": exploited["reference_block"]}
    for feed, message in ((exploited["attacker"], "no contract code"), (exploited["vault"], "latestRoundData()")):
        reply = client.post(url, {**good, "price_feed": feed}, format="json")
        assert reply.status_code == 400, reply.content
        error = reply.json()["error"]
        assert error["detail"]["field"] == "price_feed" and message in error["message"], error
    assert ImpactAnalysis.objects.count() == 0


@pytest.mark.django_db
def test_from_block_after_the_rollback_block_is_refused_at_request_time(chain_settings, exploited):
    client = APIClient()
    client.force_authenticate(_user())
    reply = client.post(
        reverse("incident-analyses", args=[_open(exploited).pk]),
        {
            "rollback_block": exploited["rollback_block"],
            "reference_block": exploited["reference_block"],
            "from_block": exploited["rollback_block"] + 1,
        },
        format="json",
    )
    assert reply.status_code == 400, reply.content
    assert reply.json()["error"]["detail"]["field"] == "from_block"
    assert "after the rollback block" in reply.json()["error"]["message"]
    assert ImpactAnalysis.objects.count() == 0


@pytest.mark.django_db
def test_a_failed_analysis_puts_its_incident_back_to_open(anvil, w3, exploited, demo):
    from eth_abi import encode
    from eth_utils import keccak

    from chain.errors import ReplayMismatch

    slot = keccak(encode(["address", "uint256"], [demo.holders[3], 0]))  # OpenZeppelin ERC20's _balances
    w3.provider.make_request("anvil_setStorageAt", [exploited["vault"], "0x" + slot.hex(), "0x" + "00" * 31 + "07"])
    _mine(w3)
    incident = _open(exploited)
    analysis = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=anvil.url,
        rollback_block=exploited["rollback_block"],
        reference_block=w3.eth.block_number,
        assets=[exploited["vault"]],
    )
    assert Incident.objects.get(pk=incident.pk).status == IncidentStatus.ANALYSING
    with pytest.raises(ReplayMismatch):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and analysis.finished_at is not None
    assert Incident.objects.get(pk=incident.pk).status == IncidentStatus.OPEN


class _CancellingNode(RpcProxy):
    """Forwards to anvil, and cancels the analysis when the first balanceOf batch passes:
    after the scan's last checkpoint, while the cross-check runs, just before the final store."""

    def __init__(self, upstream: str, analysis_id: int) -> None:
        self.analysis_id, self.cancelled = analysis_id, False
        super().__init__(upstream)

    def forward(self, body: bytes) -> bool:
        if not self.cancelled and b"0x70a08231" in body:
            self.cancelled = True
            impact.cancel_impact(analysis_id=self.analysis_id)  # another connection, as in production
        return True


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_the_final_store_ends_the_analysis_cancelled_with_no_rows(anvil, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    node = _CancellingNode(anvil.url, analysis.pk)
    try:
        result = impact.compute_impact(analysis_id=analysis.pk, rpc_url=node.url)
    finally:
        node.close()
    assert node.cancelled
    assert result.status == AnalysisStatus.CANCELLED
    assert AccountImpact.objects.filter(analysis=analysis).count() == 0
    assert BalanceSnapshot.objects.count() == 0
    assert Incident.objects.get(pk=analysis.incident_id).status == IncidentStatus.OPEN


# --- item 5: chain identity and finality -----------------------------------------------------


@pytest.fixture(scope="module")
def mainnet_impostor():
    """A second anvil reporting chain id 1."""
    node = Anvil(port=0, chain_id=1).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.mark.django_db
def test_an_incident_of_another_chain_is_refused_with_409_naming_both_chains(chain_settings, exploited):
    incident = impact.open_incident(
        title="Typed as mainnet", kind="protocol_exploit", chain_id=1, affected_tokens=[exploited["vault"]]
    )
    client = APIClient()
    client.force_authenticate(_user())
    reply = client.post(
        reverse("incident-analyses", args=[incident.pk]),
        {"rollback_block": exploited["rollback_block"], "reference_block": exploited["reference_block"]},
        format="json",
    )
    assert reply.status_code == 409, reply.content
    error = reply.json()["error"]
    assert error["code"] == "chain_mismatch"
    assert "on chain 1" in error["message"] and "serves chain 31337" in error["message"]
    assert ImpactAnalysis.objects.count() == 0


@pytest.mark.django_db
def test_a_worker_pointed_at_another_chain_fails_the_analysis(anvil, exploited, mainnet_impostor):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    assert analysis.node_chain_id == 31337
    with pytest.raises(ChainMismatch, match="serves chain 1"):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=mainnet_impostor.url)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "serves chain 1" in analysis.error
    assert Incident.objects.get(pk=analysis.incident_id).status == IncidentStatus.OPEN


@pytest.mark.django_db
def test_an_analysis_records_the_chain_and_the_hash_of_every_block_it_uses(anvil, w3, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]], from_block=exploited["from_block"])
    for block, recorded in (
        (exploited["rollback_block"], analysis.rollback_block_hash),
        (exploited["reference_block"], analysis.reference_block_hash),
        (exploited["from_block"], analysis.from_block_hash),
    ):
        assert recorded == w3.eth.get_block(block)["hash"].to_0x_hex()
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    assert analysis.summary["chain_id"] == 31337 and analysis.summary["unconfirmed"] is False
    snapshots = BalanceSnapshot.objects.filter(token=exploited["vault"])
    assert {(s.block, s.block_hash) for s in snapshots} == {
        (exploited["rollback_block"], analysis.rollback_block_hash),
        (exploited["reference_block"], analysis.reference_block_hash),
    }


@pytest.mark.django_db
def test_a_reference_block_within_the_confirmation_depth_is_refused_unless_asked_for(chain_settings, w3, exploited):
    chain_settings.CONFIRMATION_DEPTH = 12
    client = APIClient()
    client.force_authenticate(_user())
    url = reverse("incident-analyses", args=[_open(exploited).pk])
    head = w3.eth.block_number
    body = {"rollback_block": exploited["rollback_block"], "reference_block": head, "assets": [exploited["vault"]]}
    refused = client.post(url, body, format="json")
    assert refused.status_code == 400, refused.content
    message = refused.json()["error"]["message"]
    assert "confirmation depth of 12" in message and f"chain head {head}" in message
    assert ImpactAnalysis.objects.count() == 0

    taken = client.post(url, {**body, "allow_unconfirmed": True}, format="json")
    assert taken.status_code == 202, taken.content
    assert taken.json()["unconfirmed"] is True
    analysis = impact.compute_impact(analysis_id=taken.json()["id"], rpc_url=chain_settings.CHAIN_RPC_URL)
    assert analysis.status == AnalysisStatus.COMPLETED and analysis.summary["unconfirmed"] is True
    assert BalanceSnapshot.objects.count() == 0  # an unconfirmed analysis stores no snapshot


@pytest.mark.django_db
def test_a_snapshot_of_a_block_the_chain_no_longer_has_is_dropped_and_the_analysis_rebuilds_from_logs(
    anvil, w3, demo, deployer, attacker, executor_account
):
    token, deployed = _fresh_token(w3, deployer)
    send(w3, deployer, token.functions.mint(deployer.address, 1000))
    first_rollback = w3.eth.block_number
    fork = w3.provider.make_request("evm_snapshot", [])["result"]
    send(w3, deployer, token.functions.transfer(attacker.address, 100))
    stale_block = w3.eth.block_number
    first = impact.request_impact(
        incident_id=_incident(token.address).pk,
        rpc_url=anvil.url,
        rollback_block=first_rollback,
        reference_block=stale_block,
        from_block=deployed,
    )
    assert impact.compute_impact(analysis_id=first.pk, rpc_url=anvil.url).status == AnalysisStatus.COMPLETED
    stale_hash = BalanceSnapshot.objects.get(token=token.address, block=stale_block).block_hash

    # The chain is reorganised from the fork: the same block numbers, other blocks.
    assert w3.provider.make_request("evm_revert", [fork])["result"]
    send(w3, deployer, token.functions.transfer(executor_account.address, 300))
    _mine(w3, 2)
    assert w3.eth.get_block(stale_block)["hash"].to_0x_hex() != stale_hash

    second = impact.request_impact(
        incident_id=_incident(token.address).pk,
        rpc_url=anvil.url,
        rollback_block=stale_block,
        reference_block=w3.eth.block_number,
        from_block=deployed,
    )
    second = impact.compute_impact(analysis_id=second.pk, rpc_url=anvil.url)
    assert second.status == AnalysisStatus.COMPLETED, second.error
    rows = {r.account: r for r in AccountImpact.objects.filter(analysis=second)}
    chain_then = read_balances(anvil.url, token.address, [deployer.address, executor_account.address], stale_block)
    assert rows[deployer.address].before == chain_then[deployer.address.lower()] == 700
    assert rows[executor_account.address].before == 300
    assert attacker.address not in rows  # only the reorganised-away branch knew it
    assert not BalanceSnapshot.objects.filter(block_hash=stale_hash).exists()
    assert BalanceSnapshot.objects.filter(token=token.address, block=stale_block).get().block_hash == (
        w3.eth.get_block(stale_block)["hash"].to_0x_hex()
    )


@pytest.mark.django_db
def test_an_analysis_whose_blocks_were_reorganised_away_before_it_ran_fails_clearly(
    anvil, w3, demo, deployer, attacker
):
    token, deployed = _fresh_token(w3, deployer)
    send(w3, deployer, token.functions.mint(deployer.address, 1000))
    fork = w3.provider.make_request("evm_snapshot", [])["result"]
    send(w3, deployer, token.functions.transfer(attacker.address, 100))
    analysis = impact.request_impact(
        incident_id=_incident(token.address).pk,
        rpc_url=anvil.url,
        rollback_block=deployed,
        reference_block=w3.eth.block_number,
        from_block=deployed,
    )
    assert w3.provider.make_request("evm_revert", [fork])["result"]
    _mine(w3, 3)
    with pytest.raises(ChainMismatch, match="a reorg"):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "request a new analysis" in analysis.error
    assert analysis.partial_state is None
    assert AccountImpact.objects.filter(analysis=analysis).count() == 0


@pytest.mark.django_db
def test_the_command_refuses_async_with_another_node_than_the_workers(chain_settings, exploited):
    incident = _open(exploited)
    with pytest.raises(CommandError, match="--async runs the analysis on a worker"):
        call_command(
            "impact",
            "compute",
            "--incident",
            str(incident.pk),
            "--rpc",
            "http://127.0.0.1:1/v3/KEY-IN-PATH",
            "--rollback-block",
            str(exploited["rollback_block"]),
            "--reference-block",
            str(exploited["reference_block"]),
            "--async",
        )
    assert ImpactAnalysis.objects.count() == 0


@pytest.mark.django_db
def test_the_command_takes_an_unconfirmed_reference_block_only_with_its_flag(chain_settings, w3, exploited):
    chain_settings.CONFIRMATION_DEPTH = 12
    incident = _open(exploited)
    args = [
        "impact",
        "compute",
        "--incident",
        str(incident.pk),
        "--token",
        exploited["vault"],
        "--rollback-block",
        str(exploited["rollback_block"]),
        "--reference-block",
        str(w3.eth.block_number),
        "--json",
    ]
    with pytest.raises(CommandError, match="confirmation depth of 12"):
        call_command(*args)
    out = StringIO()
    call_command(*args, "--allow-unconfirmed", stdout=out)
    assert '"unconfirmed": true' in out.getvalue() and '"status": "completed"' in out.getvalue()


# --- item 8: chain ids -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("chain_id", [-5, 0, 99999999999999999999999, 2**63, True])
def test_a_chain_id_outside_eip_2294_is_refused(chain_id):
    with pytest.raises(InvalidInput, match="not a chain id"):
        impact.open_incident(title="x", kind="other", chain_id=chain_id)
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_the_largest_eip_2294_chain_id_is_stored():
    incident = impact.open_incident(title="x", kind="other", chain_id=impact.MAX_CHAIN_ID)
    assert Incident.objects.get(pk=incident.pk).chain_id == 2**63 - 1 - 36


@pytest.mark.django_db
def test_an_overflowing_chain_id_in_the_api_is_a_400():
    client = APIClient()
    client.force_authenticate(_user())
    body = {"title": "x", "kind": "other", "chain_id": 99999999999999999999999}
    reply = client.post(reverse("incidents"), body, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["error"]["detail"]["field"] == "chain_id"


@pytest.mark.django_db
@pytest.mark.parametrize("chain_id", ["-5", "0"])
def test_the_incident_command_refuses_a_bad_chain_id_in_one_line(chain_id):
    with pytest.raises(CommandError) as refused:
        call_command("incident", "open", "--title", "x", "--kind", "other", "--chain-id", chain_id)
    assert "not a chain id" in str(refused.value) and "\n" not in str(refused.value)
    assert Incident.objects.count() == 0


# --- item 9: lost work -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_running_analysis_is_not_started_twice_while_its_worker_lives(anvil, exploited):
    from django.utils import timezone

    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    ImpactAnalysis.objects.filter(pk=analysis.pk).update(status=AnalysisStatus.RUNNING, heartbeat_at=timezone.now())
    again = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url, lease_seconds=3600)
    assert again.status == AnalysisStatus.RUNNING and again.blocks_done == 0
    assert impact.find_lost_analyses(pending_seconds=3600, lease_seconds=3600) == []
    # Its worker died: past the lease, the sweep finds it and another run takes it over.
    assert impact.find_lost_analyses(pending_seconds=3600, lease_seconds=0) == [analysis.pk]
    taken = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url, lease_seconds=0)
    assert taken.status == AnalysisStatus.COMPLETED


@pytest.mark.django_db
def test_a_cancel_requested_while_its_worker_was_dead_ends_the_analysis_at_the_next_run(anvil, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    ImpactAnalysis.objects.filter(pk=analysis.pk).update(status=AnalysisStatus.RUNNING)
    assert impact.cancel_impact(analysis_id=analysis.pk).status == AnalysisStatus.RUNNING
    result = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url, lease_seconds=0)
    assert result.status == AnalysisStatus.CANCELLED
    assert Incident.objects.get(pk=analysis.incident_id).status == IncidentStatus.OPEN


def test_the_sweep_requeues_a_pending_analysis_whose_message_was_lost(celery_worker, chain_settings, exploited):
    chain_settings.IMPACT_REQUEUE_AFTER_SECONDS = 0
    # Requested, but never enqueued: the broker was down.
    analysis = _request(_Anvilish(chain_settings.CHAIN_RPC_URL), exploited)
    assert tasks.requeue_lost_analyses() == [analysis.pk]
    deadline = time.monotonic() + 60
    while ImpactAnalysis.objects.get(pk=analysis.pk).status in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert tasks.requeue_lost_analyses() == []


class _Anvilish:
    def __init__(self, url: str) -> None:
        self.url = url


# --- secrets ---------------------------------------------------------------------------------

KEYED = "/v3/d41d8cd98f00b204e9800998ecf8427e"


@pytest.mark.django_db
def test_no_stored_error_or_refusal_carries_the_rpc_key(anvil, exploited):
    dead = f"http://127.0.0.1:{free_port()}{KEYED}"
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    with pytest.raises(RpcUnavailable):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=dead)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "RpcUnavailable" in analysis.error
    assert "d41d8cd98f00b204" not in analysis.error and "127.0.0.1" in analysis.error
    with pytest.raises(ChainUnavailable) as refused:
        _request(_Anvilish(dead), exploited)
    assert "d41d8cd98f00b204" not in refused.value.message
