"""Publications through the API and the commands: roles, 404s and bad input as JSON, the whole way to execute."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from chain.demo import VOTING_PERIOD_BLOCKS
from governance.models import Publication
from tests.factories import UserFactory
from tests.governance.governors import (
    client_as,
    created_count,
    increase_time,
    mine,
    vote,
)

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


def test_publishing_needs_the_committee_role_and_answers_the_same_publication_twice(w3, ready):
    document, venue = ready
    url = f"/api/proposals/{document.pk}/publications/"
    assert client_as().post(url, {"venue": venue.pk}, format="json").status_code == 401
    refused = client_as(UserFactory(executor=True)).post(url, {"venue": venue.pk}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    assert not Publication.objects.exists() and created_count(w3, venue.governor) == 0

    committee = client_as(UserFactory(committee=True))
    created = committee.post(url, {"venue": venue.pk}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "created" and body["proposal"] == document.pk and body["venue"] == venue.pk
    assert isinstance(body["proposal_id"], str) and int(body["proposal_id"]) > 2**64  # a hash, as a string
    assert all(isinstance(action["value"], str) for action in body["actions"])
    again = committee.post(url, {"venue": venue.pk}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert created_count(w3, venue.governor) == 1

    listed = client_as().get(url).json()
    assert [row["id"] for row in listed] == [body["id"]]
    page = client_as().get("/api/publications/?page_size=1").json()
    assert page["count"] == 1 and page["results"][0]["id"] == body["id"]
    assert client_as().get(f"/api/publications/{body['id']}/").json()["tx_hash"] == body["tx_hash"]


def test_bad_input_and_unknown_ids_answer_json_errors_and_store_nothing(ready):
    document, venue = ready
    committee = client_as(UserFactory(committee=True))
    url = f"/api/proposals/{document.pk}/publications/"
    for body, status, code in (
        ({}, 400, "invalid_input"),
        ({"venue": "x"}, 400, "invalid_input"),
        ({"venue": 10**30}, 400, "invalid_input"),
        ({"venue": venue.pk + 1000}, 404, "venue_not_found"),
    ):
        answer = committee.post(url, body, format="json")
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body
    unknown = committee.post("/api/proposals/999999/publications/", {"venue": venue.pk}, format="json")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "proposal_not_found"
    assert client_as().get("/api/proposals/999999/publications/").status_code == 404
    missing = client_as().get("/api/publications/999999/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "publication_not_found"
    executor = client_as(UserFactory(executor=True))
    assert executor.post("/api/publications/999999/queue/").json()["error"]["code"] == "publication_not_found"
    assert not Publication.objects.exists()


def test_queue_and_execute_need_the_executor_role_and_run_the_proposal_to_its_approval(w3, ready):
    document, venue = ready
    created = client_as(UserFactory(committee=True)).post(
        f"/api/proposals/{document.pk}/publications/", {"venue": venue.pk}, format="json"
    )
    publication = created.json()
    queue, execute = (f"/api/publications/{publication['id']}/{step}/" for step in ("queue", "execute"))
    assert client_as().post(queue).status_code == 401
    refused = client_as(UserFactory(committee=True)).post(execute)
    assert refused.status_code == 403 and refused.json()["error"]["detail"]["role"] == "executor"

    executor_user = UserFactory(executor=True)
    executor = client_as(executor_user)
    early = executor.post(queue)
    assert early.status_code == 409 and early.json()["error"]["code"] == "proposal_not_ready"
    assert "the vote ends at block" in early.json()["error"]["message"]

    mine(w3, 2)
    vote(w3, venue.governor, int(publication["proposal_id"]), 0)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    queued = executor.post(queue)
    assert queued.status_code == 200 and queued.json()["sent"] is True and queued.json()["state"] == "queued"
    before_eta = executor.post(execute)
    assert before_eta.status_code == 409 and "ETA" in before_eta.json()["error"]["message"]
    increase_time(w3, 61)
    executed = executor.post(execute).json()
    assert executed["sent"] is True and executed["state"] == "executed"
    asset = document.plan.assets.get()
    [approval] = executed["approvals"]
    assert approval["plan_id"] == str(asset.onchain_plan_id) and approval["batches_root"] == asset.commitment_root
    [entry] = [a for a in json.loads(document.canonical_bytes)["assets"] if a["batch_count"]]
    assert approval["budget"] == entry["total_allocated"]  # base units, a decimal string
    assert executed["publication"]["execute_tx_hash"] == executed["tx_hash"]
    # Who had each step sent, and when.
    stored = Publication.objects.get(pk=publication["id"])
    assert stored.queued_by == executor_user and stored.executed_by == executor_user
    assert stored.queued_at <= stored.executed_at
    assert executed["publication"]["queued_at"] and executed["publication"]["executed_at"]


def test_the_commands_publish_with_progress_and_refuse_an_early_queue_in_one_line(w3, ready):
    document, venue = ready
    out, err = io.StringIO(), io.StringIO()
    publish = ("proposal", "publish", "--proposal", str(document.pk), "--venue", str(venue.pk))
    call_command(*publish, "--json", stdout=out, stderr=err)
    answer = json.loads(out.getvalue())
    assert answer["status"] == "created" and answer["proposal"] == document.pk
    assert "signed propose" in err.getvalue() and "threshold" in err.getvalue()

    text = io.StringIO()
    call_command(*publish, stdout=text)
    assert f"publication {answer['publication']}" in text.getvalue() and "already published" in text.getvalue()
    assert created_count(w3, venue.governor) == 1

    with pytest.raises(CommandError) as early:
        call_command("proposal", "queue", "--publication", str(answer["publication"]))
    assert "the vote ends at block" in str(early.value)

    mine(w3, 2)
    vote(w3, venue.governor, int(answer["proposal_id"]), 0)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    queued = io.StringIO()
    call_command("proposal", "queue", "--publication", str(answer["publication"]), stdout=queued)
    assert "queue sent" in queued.getvalue()
    increase_time(w3, 61)
    executed = io.StringIO()
    call_command("proposal", "execute", "--publication", str(answer["publication"]), "--json", stdout=executed)
    result = json.loads(executed.getvalue())
    assert result["sent"] is True and result["state"] == "executed"
    assert result["approvals"][0]["plan_id"] == str(document.plan.assets.get().onchain_plan_id)
