"""Publishing a frozen document to a Snapshot space on the real local hub: once, whatever is retried.

The gate (rehearsed and signed off on a governor venue of the same chain and executor), the
refusals before signing, a hub that is down (503, the row stays sending, a later publish posts the
same message), an answer lost on the way back (the duplicate refusal means "already there"), and a
refusal that fails the row so that publishing again signs anew.
"""

import json

import pytest

from config.preflight import load_role_account
from governance.models import SnapshotProposal, SnapshotVenue
from governance.publishing import proposal_description
from governance.snapshot_client import graphql, post_message
from governance.snapshot_errors import (
    SnapshotAuthorNotAllowed,
    SnapshotMessageTooLarge,
    SnapshotNotPublishable,
    SnapshotRefused,
    SnapshotUnavailable,
)
from governance.snapshot_messages import message_id
from governance.snapshot_publishing import MAX_MESSAGE_CHARS, message_chars, proposal_title, publish_to_snapshot
from governance.snapshot_venues import add_snapshot_venue
from proposals.exceptions import ExecutorMismatch, RehearsalRequired
from proposals.models import ProposalDocument
from tests.governance.governors import dev_venue, frozen_document, make_publishable
from tests.snapshot_hub import SPACE_ID, demo_space, start_hub

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


PROPOSALS = """
query P($space: String!) { proposals(first: 100, where: {space: $space}) { id title body author snapshot start end } }
"""


@pytest.fixture
def quick(settings):
    settings.SNAPSHOT_HTTP_ATTEMPTS = 2
    settings.SNAPSHOT_HTTP_BACKOFF_SECONDS = 0.01
    return settings


def _venue(hub, demo, anvil, space: str = SPACE_ID, **overrides) -> SnapshotVenue:
    arguments = {
        "space": space,
        "sequencer_url": hub.sequencer_url,
        "hub_url": hub.graphql_url,
        "recovery_executor": demo.address("recovery_executor"),
        "approver": demo.committee,
        "rpc_url": anvil.url,
    }
    return add_snapshot_venue(**{**arguments, **overrides})


def _hub_proposals(hub, space: str = SPACE_ID) -> list[dict]:
    return graphql(hub.graphql_url, PROPOSALS, {"space": space})["proposals"]


def test_voting_power_is_read_past_the_confirmation_depth(ready, snapshot_hub, demo, anvil, w3, quick):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    quick.CONFIRMATION_DEPTH = 3
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert row.status == "created"
    assert row.snapshot == w3.eth.block_number - 3 == row.envelope["data"]["message"]["snapshot"]
    assert row.snapshot_block_hash == w3.eth.get_block(row.snapshot)["hash"].to_0x_hex()


def test_publish_end_to_end_then_again_answers_the_same_row(ready, snapshot_hub, demo, anvil, w3, quick):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    said: list[str] = []
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url, progress=said.append)
    assert row.status == "created" and row.error == ""
    assert row.proposal_id == message_id(row.envelope["data"])
    assert row.ipfs
    message = row.envelope["data"]["message"]
    assert message["from"] == row.author == load_role_account("proposer").address
    assert message["title"] == proposal_title(document)
    assert (
        message["title"].startswith("Recovery proposal: ") and f"(plan version {document.version})" in message["title"]
    )
    assert message["body"] == proposal_description(document)
    assert f"content-hash: {document.content_hash}" in message["body"].splitlines()
    assert message["choices"] == ["For", "Against", "Abstain"] and message["type"] == "basic"
    assert message["end"] - message["start"] == venue.voting_period and message["start"] == message["timestamp"]
    assert row.snapshot_block_hash == w3.eth.get_block(row.snapshot)["hash"].to_0x_hex()
    assert any("stored as snapshot proposal" in line for line in said)

    on_hub = _hub_proposals(snapshot_hub)
    assert [p["id"] for p in on_hub] == [row.proposal_id]
    assert int(on_hub[0]["snapshot"]) == row.snapshot

    again = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert again.pk == row.pk and again.proposal_id == row.proposal_id
    assert SnapshotProposal.objects.count() == 1
    assert len(_hub_proposals(snapshot_hub)) == 1


def test_a_hub_that_is_down_leaves_the_row_sending_and_a_later_publish_finishes_it(ready, demo, anvil, quick, tmp_path):
    document, _ = ready
    db_path = tmp_path / "hub.sqlite3"
    spaces = [demo_space(demo)]
    first = start_hub(anvil.url, spaces, db_path=db_path)
    venue = _venue(first, demo, anvil)
    first.stop()
    with pytest.raises(SnapshotUnavailable) as down:
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert down.value.status == 503
    assert "publishing again posts the very same message" in down.value.message
    row = SnapshotProposal.objects.get()
    assert row.status == "sending" and row.proposal_id == message_id(row.envelope["data"])
    stored_envelope = row.envelope

    second = start_hub(anvil.url, spaces, db_path=db_path)
    try:
        SnapshotVenue.objects.filter(pk=venue.pk).update(sequencer_url=second.sequencer_url, hub_url=second.graphql_url)
        finished = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
        assert finished.pk == row.pk and finished.status == "created"
        assert finished.envelope == stored_envelope
        assert [p["id"] for p in _hub_proposals(second)] == [row.proposal_id]
    finally:
        second.stop()


def test_an_answer_lost_after_the_hub_took_it_is_recognised_as_already_there(ready, snapshot_hub, demo, anvil, quick):
    document, _ = ready
    first = start_hub(anvil.url, [demo_space(demo)])
    venue = _venue(first, demo, anvil)
    first.stop()
    with pytest.raises(SnapshotUnavailable):
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    row = SnapshotProposal.objects.get()
    # The stored message reaches the hub, but Lifeboat never hears back.
    SnapshotVenue.objects.filter(pk=venue.pk).update(
        sequencer_url=snapshot_hub.sequencer_url, hub_url=snapshot_hub.graphql_url
    )
    assert post_message(snapshot_hub.sequencer_url, row.envelope)["id"] == row.proposal_id
    finished = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert finished.status == "created" and finished.proposal_id == row.proposal_id
    assert len(_hub_proposals(snapshot_hub)) == 1


def test_a_refusal_fails_the_row_with_the_reason_and_publishing_again_signs_anew(
    ready, snapshot_hub, demo, anvil, quick
):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    SnapshotVenue.objects.filter(pk=venue.pk).update(voting_period=venue.voting_period + 100)  # stale settings
    with pytest.raises(SnapshotRefused) as refused:
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    reason = refused.value.detail["error_description"]
    assert reason and reason in refused.value.message
    failed = SnapshotProposal.objects.get()
    assert failed.status == "failed" and reason in failed.error
    assert _hub_proposals(snapshot_hub) == []

    _venue(snapshot_hub, demo, anvil)  # read the space again
    row = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert row.pk == failed.pk and row.status == "created" and row.error == ""
    assert row.proposal_id != failed.proposal_id
    assert [p["id"] for p in _hub_proposals(snapshot_hub)] == [row.proposal_id]


def test_a_body_over_the_sequencers_limit_is_refused_before_signing(ready, snapshot_hub, demo, anvil, quick):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    ProposalDocument.objects.filter(pk=document.pk).update(body="é" * MAX_MESSAGE_CHARS)
    with pytest.raises(SnapshotMessageTooLarge, match="over the Snapshot sequencer's limit of 100000") as refused:
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.status == 409
    assert not SnapshotProposal.objects.exists()
    assert _hub_proposals(snapshot_hub) == []


def test_message_chars_counts_as_javascript_does():
    assert message_chars({"a": "é"}) == len('{"a":"é"}')
    assert message_chars({"a": "😀"}) == len('{"a":""}') + 2  # one astral character is two UTF-16 units
    assert message_chars({"a": 'q"\n'}) == len(json.dumps({"a": 'q"\n'}, separators=(",", ":")))


def test_the_gate_wants_a_rehearsal_and_sign_off_on_a_governor_venue(
    snapshot_hub, demo, anvil, exploited, chain_settings, quick
):
    document = frozen_document(anvil, exploited)
    venue = _venue(snapshot_hub, demo, anvil)
    with pytest.raises(SnapshotNotPublishable, match=r"there is none: add one with `manage\.py venue add governor`"):
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    governor = dev_venue(demo, anvil)
    with pytest.raises(RehearsalRequired):
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert not SnapshotProposal.objects.exists()
    make_publishable(document, governor, anvil.url)
    assert publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url).status == "created"


def test_a_key_approver_cannot_carry_out_parameter_changes(snapshot_hub, demo, anvil, exploited, chain_settings, quick):
    document = frozen_document(
        anvil, exploited, changes=[{"target": exploited["vault"], "signature": "pause()", "args": []}]
    )
    make_publishable(document, dev_venue(demo, anvil), anvil.url)
    venue = _venue(snapshot_hub, demo, anvil)
    with pytest.raises(SnapshotNotPublishable, match="use a Snapshot venue whose approver is a Safe") as refused:
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.detail["parameter_changes"] == 1
    assert not SnapshotProposal.objects.exists()


def test_a_plan_bound_to_another_executor_is_refused(ready, snapshot_hub, demo, anvil, quick):
    document, _ = ready
    venue = _venue(snapshot_hub, demo, anvil)
    SnapshotVenue.objects.filter(pk=venue.pk).update(recovery_executor=demo.address("token"))
    with pytest.raises(ExecutorMismatch):
        publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert not SnapshotProposal.objects.exists()


def test_a_proposer_outside_a_members_only_space_is_named(ready, anvil, demo, quick):
    document, _ = ready
    hub = start_hub(anvil.url, [demo_space(demo, members=[demo.committee])])
    try:
        venue = _venue(hub, demo, anvil)
        proposer = load_role_account("proposer").address
        with pytest.raises(SnapshotAuthorNotAllowed, match=f"the proposer {proposer} is none of them") as refused:
            publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
        assert refused.value.detail["author"] == proposer
        assert not SnapshotProposal.objects.exists()
    finally:
        hub.stop()
