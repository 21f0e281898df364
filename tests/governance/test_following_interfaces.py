"""The indexer's interfaces: the periodic Celery task on a real worker, the API (reads for anyone,
a refresh for executors and the committee) and `proposal status`."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chain.artifacts import bind
from governance.models import Publication, PublicationStatus
from governance.models.votes import VoteRecord
from governance.tasks_following import follow_proposals
from tests.factories import UserFactory
from tests.governance.governors import assert_tally_is_the_governors, chain_tally, client_as

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


def test_the_periodic_task_follows_every_open_publication_on_a_real_worker(celery_worker, chain_settings, w3, active):
    publication, _ = active
    assert follow_proposals.delay().get(timeout=120) == 1
    assert VoteRecord.objects.filter(publication=publication).count() == 3
    assert_tally_is_the_governors(w3, publication)
    # Again (a restart, a second beat tick): the same rows.
    assert follow_proposals.delay().get(timeout=120) == 1
    assert VoteRecord.objects.filter(publication=publication).count() == 3


def test_the_task_is_registered_under_its_explicit_name():
    from config.celery import app

    assert follow_proposals.name == "governance.follow_proposals"
    assert app.tasks["governance.follow_proposals"].name == follow_proposals.name
    assert follow_proposals.acks_late


def test_anyone_reads_the_votes_a_page_at_a_time_and_the_tally_as_decimal_strings(w3, anvil, active):
    publication, _ = active
    reader = client_as()
    empty = reader.get(f"/api/publications/{publication.pk}/votes/")
    assert empty.status_code == 200 and empty.json()["count"] == 0

    refreshed = client_as(UserFactory(executor=True)).post(f"/api/publications/{publication.pk}/follow/")
    assert refreshed.status_code == 200, refreshed.content

    page = reader.get(f"/api/publications/{publication.pk}/votes/?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    rest = reader.get(page["next"]).json()["results"]
    rows = page["results"] + rest
    assert [row["support_name"] for row in rows] == ["For", "Against", "Abstain"]
    assert all(isinstance(row["weight"], str) and row["weight"].isdigit() for row in rows)
    assert rows[2]["with_params"] and rows[2]["params"] == "0x0102ff"

    tally = reader.get(f"/api/publications/{publication.pk}/tally/").json()
    for_, against, abstain = chain_tally(w3, publication, tally["followed_block"])
    assert (tally["for_votes"], tally["against_votes"], tally["abstain_votes"]) == (
        str(for_),
        str(against),
        str(abstain),
    )
    assert tally["state"] == "active" and tally["vote_count"] == 3
    assert tally["proposal_id"] == str(publication.proposal_id)


def test_the_committee_may_refresh_too(anvil, active):
    publication, _ = active
    answer = client_as(UserFactory(committee=True)).post(f"/api/publications/{publication.pk}/follow/")
    assert answer.status_code == 200, answer.content
    assert answer.json()["vote_count"] == 3


def test_a_refresh_needs_the_executor_or_committee_role(anvil, active):
    publication, _ = active
    anonymous = client_as().post(f"/api/publications/{publication.pk}/follow/")
    assert anonymous.status_code == 401 and anonymous.has_header("WWW-Authenticate")
    user = UserFactory()
    refused = client_as(user).post(f"/api/publications/{publication.pk}/follow/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "role_required"
    assert "executor or the committee role" in refused.json()["error"]["message"]
    assert not VoteRecord.objects.exists()
    publication.refresh_from_db()
    assert publication.followed_block is None


def test_unknown_and_unpublished_publications_answer_4xx(anvil, active):
    publication, _ = active
    executor = client_as(UserFactory(executor=True))
    for path in ("votes/", "tally/"):
        missing = client_as().get(f"/api/publications/999999/{path}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "publication_not_found"
    assert executor.post("/api/publications/999999/follow/").status_code == 404
    Publication.objects.filter(pk=publication.pk).update(status=PublicationStatus.SENDING)
    refused = executor.post(f"/api/publications/{publication.pk}/follow/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "publication_not_followable"


def test_a_dead_node_answers_503_without_its_key(settings, active):
    from chain.anvil import free_port

    publication, _ = active
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}/v3/d41d8cd98f00b204e9800998ecf8427e"
    answer = client_as(UserFactory(executor=True)).post(f"/api/publications/{publication.pk}/follow/")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "chain_unavailable"
    assert "d41d8cd98f00b204" not in answer.content.decode()


def test_proposal_status_follows_once_and_shows_the_tally_quorum_and_deadline(w3, chain_settings, active):
    publication, _ = active
    out = io.StringIO()
    call_command("proposal", "status", "--publication", str(publication.pk), "--follow", "--json", stdout=out)
    status = json.loads(out.getvalue())
    for_, against, abstain = chain_tally(w3, publication)
    assert status["tally"] == {"for": str(for_), "against": str(against), "abstain": str(abstain)}
    assert status["state"] == "active" and status["votes"] == 3
    governor = publication.venue
    quorum = bind(w3, "LifeboatGovernor", governor.governor).functions.quorum(status["vote_start"]).call()
    assert status["quorum"] == str(quorum)
    assert status["quorum_counted"] == str(for_ + abstain)
    assert status["quorum_reached"] is (for_ + abstain >= quorum)
    assert status["clock_unit"] == "blocks"
    assert status["time_left"] == status["vote_end"] - w3.eth.block_number

    text = io.StringIO()
    call_command("proposal", "status", "--publication", str(publication.pk), stdout=text)
    shown = text.getvalue()
    assert f"for {for_}, against {against}, abstain {abstain}" in shown
    assert f"quorum at the snapshot ({status['vote_start']}): {quorum}" in shown
    assert "blocks left" in shown


def test_proposal_status_of_an_unknown_publication_is_a_clear_command_error(chain_settings):
    with pytest.raises(CommandError, match="there is no publication 424242"):
        call_command("proposal", "status", "--publication", "424242", stdout=io.StringIO())
