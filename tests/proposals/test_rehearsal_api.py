"""The rehearsal API: the committee requests one, a real Celery worker runs it on a fork, anyone reads.
Wrong roles, unknown ids and a venue on another chain are refused with nothing stored."""

import time

import pytest

from governance.models import GovernorVenue
from proposals.models import Rehearsal
from proposals.services import freeze_proposal
from recovery import plans
from tests.factories import UserFactory, analysed_exploit
from tests.governance.governors import client_as, dev_venue
from tests.proposals.test_rehearsal import allocations, fork_processes, fund_with_vault_shares

pytestmark = [pytest.mark.chain]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def proposal(anvil, exploited, chain_settings):
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    return freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]


@pytest.fixture
def venue(anvil, demo):
    return dev_venue(demo, anvil)


@pytest.mark.django_db
def test_requesting_a_rehearsal_needs_the_committee_role(proposal, venue):
    url = f"/api/proposals/{proposal.pk}/rehearsals/"
    anonymous = client_as().post(url, {"venue": venue.pk}, format="json")
    assert anonymous.status_code == 401
    refused = client_as(UserFactory(executor=True)).post(url, {"venue": venue.pk}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "role_required"
    assert "committee" in refused.json()["error"]["message"]
    assert not Rehearsal.objects.exists()


@pytest.mark.django_db
def test_bad_ids_and_bad_input_are_refused_with_nothing_stored(proposal, venue):
    committee = client_as(UserFactory(committee=True))
    unknown_proposal = committee.post(f"/api/proposals/{proposal.pk + 1000}/rehearsals/", {"venue": venue.pk})
    assert unknown_proposal.status_code == 404
    assert unknown_proposal.json()["error"]["code"] == "proposal_not_found"
    url = f"/api/proposals/{proposal.pk}/rehearsals/"
    unknown_venue = committee.post(url, {"venue": venue.pk + 1000}, format="json")
    assert unknown_venue.status_code == 404
    assert unknown_venue.json()["error"]["code"] == "venue_not_found"
    for bad in ({}, {"venue": "x"}, {"venue": 0}, {"venue": 2**64}):
        answer = committee.post(url, bad, format="json")
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["detail"]["field"] == "venue"
    assert client_as().get("/api/rehearsals/999999/").status_code == 404
    assert client_as().get("/api/rehearsals/999999/").json()["error"]["code"] == "rehearsal_not_found"
    assert client_as().get(f"/api/proposals/{proposal.pk + 1000}/rehearsals/").status_code == 404
    assert not Rehearsal.objects.exists()


@pytest.mark.django_db
def test_a_venue_on_another_chain_is_answered_409(proposal, venue):
    GovernorVenue.objects.filter(pk=venue.pk).update(chain_id=10)
    answer = client_as(UserFactory(committee=True)).post(
        f"/api/proposals/{proposal.pk}/rehearsals/", {"venue": venue.pk}, format="json"
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "chain_mismatch"
    assert not Rehearsal.objects.exists()


def test_a_requested_rehearsal_runs_on_a_worker_and_anyone_reads_it(celery_worker, w3, demo, deployer, proposal, venue):
    fund_with_vault_shares(w3, demo, deployer, sum(allocations(proposal).values()))
    committee = client_as(UserFactory(committee=True))

    accepted = committee.post(f"/api/proposals/{proposal.pk}/rehearsals/", {"venue": venue.pk}, format="json")

    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["status"] == "pending"
    url = accepted.json()["url"]
    assert url == f"/api/rehearsals/{accepted.json()['id']}/"
    deadline = time.monotonic() + 120
    while (state := client_as().get(url).json())["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state["status"] == "passed", state
    assert state["passed"] is True and state["content_hash"] == proposal.content_hash
    assert state["fork_block_hash"] == w3.eth.get_block(state["fork_block"])["hash"].to_0x_hex()
    assert state["report"]["balances"]["mismatched"] == 0
    assert state["report"]["balances"]["checked"] == len(allocations(proposal))
    listed = client_as().get(f"/api/proposals/{proposal.pk}/rehearsals/?page_size=5").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == state["id"]
    body = client_as().get(f"/api/proposals/{proposal.pk}/body.md").content.decode()
    assert "Rehearsal: passed." in body and state["report_hash"] in body
    assert not fork_processes()
