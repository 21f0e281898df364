"""Following a Snapshot proposal on the real local hub: votes of three kinds, a replaced vote, a vote after a
follow (the cursor), more than a thousand votes (one second filling a whole page), each vote's signature and
exact power checked, and the outcome once closed: passed, rejected, quorum not met."""

import json
import os
import sqlite3
import time

import pytest
from eth_account import Account

from chain.artifacts import bind, factory
from chain.demo import holder_account
from chain.transact import send
from governance.models import SnapshotVote
from governance.snapshot_client import post_message
from governance.snapshot_errors import SnapshotProposalNotFollowable
from governance.snapshot_following import (
    checksum_address,
    follow_snapshot_proposal,
    recover_address,
    snapshot_proposal_summary,
    vote_digest,
)
from governance.snapshot_messages import (
    ABSTAIN,
    AGAINST,
    FOR,
    VOTE_TYPES,
    digest,
    message_data,
    message_id,
    recover,
    sign,
    vote_message,
)
from governance.snapshot_publishing import publish_to_snapshot
from governance.snapshot_venues import add_snapshot_venue
from tests.governance.governors import give_votes, mine
from tests.snapshot_hub import SPACE_ID, demo_space, start_hub

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

TOKEN = 10**18


@pytest.fixture
def quick(settings):
    settings.SNAPSHOT_HTTP_ATTEMPTS = 2
    settings.SNAPSHOT_HTTP_BACKOFF_SECONDS = 0.01
    return settings


def _venue(hub, demo, anvil, space: str = SPACE_ID):
    return add_snapshot_venue(
        space=space,
        sequencer_url=hub.sequencer_url,
        hub_url=hub.graphql_url,
        recovery_executor=demo.address("recovery_executor"),
        approver=demo.committee,
        rpc_url=anvil.url,
    )


def _voters(w3, demo, deployer, amounts: dict[int, int]) -> None:
    """Holders ``i`` get ``amount`` whole tokens of voting power (self-delegated)."""
    for index, amount in amounts.items():
        give_votes(w3, deployer, "LifeboatToken", demo.address("token"), holder_account(index), amount * TOKEN)


def _vote(hub, row, holder: int, choice: int, *, timestamp: int | None = None, reason: str = "") -> str:
    account = holder_account(holder)
    message = vote_message(
        voter=account.address,
        space=row.venue.space,
        proposal=row.proposal_id,
        choice=choice,
        timestamp=timestamp or int(time.time()),
        reason=reason,
    )
    return post_message(hub.sequencer_url, sign(account, message_data(VOTE_TYPES, message)))["id"]


def _past_votes(w3, demo, holder: int, block: int) -> int:
    token = bind(w3, "LifeboatToken", demo.address("token"))
    return token.functions.getPastVotes(holder_account(holder).address, block).call()


def _wait_until_closed(row) -> None:
    while time.time() <= row.end + 1:
        time.sleep(0.25)


def test_the_fast_checksum_equals_eth_utils_and_refuses_what_is_not_an_address():
    import os

    from eth_utils import to_checksum_address

    for _ in range(500):
        address = "0x" + os.urandom(20).hex()
        assert checksum_address(address) == checksum_address("0x" + address[2:].upper()) == to_checksum_address(address)
    for bad in ("0x12", "0x" + "g" * 40, "0x" + "a_" * 20, "0x" + "a " * 20, "ab" * 21):
        with pytest.raises(ValueError):
            checksum_address(bad)


def test_vote_digest_and_recovery_equal_the_reference():
    account = Account.create()
    message = vote_message(
        voter=account.address, space="s.eth", proposal="0x" + "cd" * 32, choice=2, timestamp=1_700_000_000,
        reason="ünïcode ✓", metadata='{"a":1}',
    )  # fmt: skip
    data = message_data(VOTE_TYPES, message)
    assert vote_digest(message) == digest(data)
    sig = bytes.fromhex(sign(account, data)["sig"][2:])
    assert recover_address(vote_digest(message), sig) == recover(data, "0x" + sig.hex()) == account.address
    assert recover_address(vote_digest(message), sig[:64] + bytes([sig[64] - 27])) == account.address
    assert recover_address(vote_digest(message), sig[:64]) is None
    assert recover_address(vote_digest(message), sig[:64] + b"\x05") is None


def test_follow_votes_of_three_kinds_a_replaced_vote_the_cursor_and_the_outcome(
    ready, snapshot_hub, demo, anvil, w3, deployer, quick
):
    document, _ = ready
    _voters(w3, demo, deployer, {1: 3_000, 2: 2_000, 3: 500})
    venue = _venue(snapshot_hub, demo, anvil)
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    mine(w3)
    start = row.start
    _vote(snapshot_hub, row, 1, FOR, timestamp=start)
    _vote(snapshot_hub, row, 2, AGAINST, timestamp=start, reason="not like this: ünïcode ✓")
    _vote(snapshot_hub, row, 3, ABSTAIN, timestamp=start)
    replaced = _vote(snapshot_hub, row, 1, AGAINST, timestamp=start + 1)  # holder 1 changes its mind

    stats: dict = {}
    row = follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url, stats=stats)
    power = {h: _past_votes(w3, demo, h, row.snapshot) for h in (0, 1, 2, 3)}
    assert power[1] >= 3_000 * TOKEN and power[3] >= 500 * TOKEN  # seeded holders had some already
    assert row.votes_count == 3 and row.error == ""
    assert (int(row.for_votes), int(row.against_votes), int(row.abstain_votes)) == (
        0,
        power[1] + power[2],
        power[3],
    )
    stored = SnapshotVote.objects.get(proposal=row, voter=holder_account(1).address)
    assert (stored.vote_id, stored.choice, int(stored.vp)) == (replaced, AGAINST, power[1])
    assert SnapshotVote.objects.get(proposal=row, voter=holder_account(2).address).reason.startswith("not like")
    assert all(v.sig.startswith("0x") and len(v.sig) == 132 for v in SnapshotVote.objects.filter(proposal=row))
    assert row.vote_cursor == start + 1
    assert stats["votes_read"] == 3 and stats["queries"] >= 3
    assert row.outcome == "" and row.state in ("pending", "active")

    # A vote after that follow: the next follow reads from the cursor on, not the whole list.
    _vote(snapshot_hub, row, 0, FOR, timestamp=start + 2)
    stats = {}
    row = follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url, stats=stats)
    # Only what is at or after the cursor's second: holder 1's second vote again (dropped as seen) and the new one.
    assert stats["votes_read"] == 2
    assert row.votes_count == 4 and int(row.for_votes) == power[0]

    _wait_until_closed(row)
    row = follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url)
    assert (row.state, row.scores_state) == ("closed", "final")
    assert row.outcome == "passed", row.outcome_reason
    assert "exceeded Against" in row.outcome_reason and row.error == ""
    summary = snapshot_proposal_summary(row)
    assert summary["outcome"] == "passed" and summary["quorum_met"] is True and summary["seconds_left"] == 0
    assert summary["tally"]["for"] == str(power[0])
    again = follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url)
    assert (again.outcome, again.votes_count) == ("passed", 4)


def test_rejected_and_quorum_not_met_once_closed(ready, anvil, demo, w3, deployer, quick):
    document, _ = ready
    _voters(w3, demo, deployer, {1: 30_000, 2: 2_000})
    spaces = [demo_space(demo), demo_space(demo, id="big-quorum.eth")]
    spaces[1]["voting"] = {**spaces[1]["voting"], "quorum": 900_000_000}
    hub = start_hub(anvil.url, spaces)
    try:
        against = publish_to_snapshot(proposal_id=document.pk, venue_id=_venue(hub, demo, anvil).pk, rpc_url=anvil.url)
        short = publish_to_snapshot(
            proposal_id=document.pk, venue_id=_venue(hub, demo, anvil, "big-quorum.eth").pk, rpc_url=anvil.url
        )
        mine(w3)
        power = {h: _past_votes(w3, demo, h, against.snapshot) for h in (1, 2)}
        big, small = sorted((1, 2), key=lambda h: power[h], reverse=True)
        assert power[big] > power[small]
        _vote(hub, against, big, AGAINST, timestamp=against.start)
        _vote(hub, against, small, FOR, timestamp=against.start)
        _vote(hub, against, 0, ABSTAIN, timestamp=against.start)  # much power, but abstaining
        _vote(hub, short, 1, FOR, timestamp=short.start)
        _wait_until_closed(short if short.end > against.end else against)
        against = follow_snapshot_proposal(snapshot_proposal_id=against.pk, rpc_url=anvil.url)
        short = follow_snapshot_proposal(snapshot_proposal_id=short.pk, rpc_url=anvil.url)
    finally:
        hub.stop()
    assert against.outcome == "rejected"
    assert against.outcome_reason == f"For ({power[small]}) did not exceed Against ({power[big]})"
    assert short.outcome == "rejected"
    assert short.outcome_reason == (
        f"quorum not met: {power[1]} base units voted (For, Against and Abstain), the space's quorum is "
        f"{900_000_000 * TOKEN}"
    )
    assert snapshot_proposal_summary(short)["quorum_met"] is False


def _seed_signed_votes(hub, row, votes: list[tuple[object, str, int, int]]) -> None:
    """Insert votes straight into the hub's store, each a real signed Vote message (not posted: no power needed).

    ``votes``: (signing account, voter address, created, choice).
    """
    rows, messages = [], []
    for account, voter, created, choice in votes:
        message = vote_message(
            voter=voter, space=row.venue.space, proposal=row.proposal_id, choice=choice, timestamp=created
        )
        data = message_data(VOTE_TYPES, message)
        vote_id = message_id(data)
        sig = sign(account, data)["sig"]
        ipfs = "bafkrei" + os.urandom(26).hex()[:52]
        rows.append(
            (vote_id, ipfs, voter, created, row.venue.space, row.proposal_id, json.dumps(choice), "{}", "", "lifeboat",
             0.0, json.dumps(["0"]), "final")
        )  # fmt: skip
        messages.append((vote_id, ipfs, voter, "0.1.4", created, row.venue.space, "vote", sig, "0x"))
    with sqlite3.connect(hub.db_path) as db:
        db.executemany(
            "INSERT INTO votes (id, ipfs, voter, created, space, proposal, choice, metadata, reason, app, vp, vp_raw, "
            "vp_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO messages (id, ipfs, address, version, timestamp, space, type, sig, receipt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        db.execute("UPDATE proposals SET votes = votes + ? WHERE id = ?", (len(rows), row.proposal_id))


def test_more_than_a_thousand_votes_one_second_filling_a_page_bad_signatures_and_a_contract_voter(
    ready, snapshot_hub, demo, anvil, w3, deployer, quick
):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    owner = Account.create()
    wallet = send(w3, deployer, factory(w3, "ERC1271Wallet").constructor(owner.address))["contractAddress"]
    start = row.start
    seeded = []
    for index in range(1_500):
        account = Account.create()
        created = start if index < 1_200 else start + 1 + index % 3  # 1,200 votes share one second
        seeded.append((account, account.address, created, (FOR, AGAINST, ABSTAIN)[index % 3]))
    forger = Account.create()
    seeded.append((forger, Account.create().address, start + 2, FOR))  # signed by someone else
    seeded.append((owner, wallet, start + 3, AGAINST))  # a contract voter, EIP-1271
    _seed_signed_votes(snapshot_hub, row, seeded)

    stats: dict = {}
    row = follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url, stats=stats)
    assert row.votes_count == 1_501
    assert SnapshotVote.objects.filter(proposal=row, voter=wallet).exists()
    assert not SnapshotVote.objects.filter(proposal=row, voter=seeded[1_500][1]).exists()
    assert f"by {seeded[1_500][1]}: its signature is not the voter's" in row.error
    assert row.vote_cursor == start + 3
    assert stats["votes_read"] == 1_502
    # The proposal, two vote pages (the second with skip inside the crowded second) and the signatures
    # 100 ids a query: 1 + 2 + 10 + 6.
    assert stats["queries"] == 19
    stats = {}
    follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url, stats=stats)
    assert stats["votes_read"] == 101  # the re-follow reads the cursor's second only (100 seeded and the wallet's)


def test_a_proposal_not_created_cannot_be_followed(ready, snapshot_hub, demo, anvil, quick):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    type(row).objects.filter(pk=row.pk).update(status="sending")
    with pytest.raises(SnapshotProposalNotFollowable) as refused:
        follow_snapshot_proposal(snapshot_proposal_id=row.pk, rpc_url=anvil.url)
    assert refused.value.status == 409
