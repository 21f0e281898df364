"""Freezing a real plan (the exploited demo vault, analysed on anvil) into its proposal document,
through the service, the API and the command."""

import io
import json
import subprocess
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from eth_utils import keccak
from rest_framework.test import APIClient

from proposals import document
from proposals.models import ProposalDocument, ProposalStatus
from proposals.services import freeze_proposal
from recovery import plans
from tests.factories import UserFactory, analysed_exploit

ORACLE = Path(__file__).resolve().parents[1] / "js" / "canonicalize_oracle.mjs"

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.fixture
def analysis(anvil, exploited, chain_settings):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])


def build(analysis, exploited, *, budget: int | None = None, changes=()):
    if budget is None:
        return plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", parameter_changes=changes)
    return plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="pro_rata",
        budgets={exploited["vault"]: str(budget)},
        parameter_changes=changes,
    )


def client_as(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _walk(value: object) -> list[object]:
    if isinstance(value, dict):
        return [value, *(item for child in value.values() for item in _walk(child))]
    if isinstance(value, list):
        return [value, *(item for child in value for item in _walk(child))]
    return [value]


def test_freezing_a_plan_twice_returns_the_same_document(analysis, exploited):
    plan = build(analysis, exploited)
    user = UserFactory(committee=True)
    first, created = freeze_proposal(plan_id=plan.pk, frozen_by=user)
    again, created_again = freeze_proposal(plan_id=plan.pk, frozen_by=user)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert again.content_hash == first.content_hash
    assert ProposalDocument.objects.filter(plan=plan).count() == 1
    assert first.status == ProposalStatus.FROZEN
    assert first.version == plan.version


def test_the_stored_bytes_are_rebuilt_exactly_from_the_plan_and_hash_to_the_content_hash(analysis, exploited):
    plan = build(analysis, exploited, changes=[{"target": exploited["vault"], "signature": "pause()", "args": []}])
    proposal, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    stored = proposal.canonical_bytes
    assert proposal.content_hash == "0x" + keccak(stored).hex()
    content = json.loads(stored)
    assert document.canonical_json(content) == stored
    assert content["parameter_changes"][0]["signature"] == "pause()"
    assert content["analysis"]["rollback_block"]["hash"] == analysis.rollback_block_hash
    assert content["analysis"]["reference_block"]["hash"] == analysis.reference_block_hash
    asset = content["assets"][0]
    plan_asset = plan.assets.get()
    assert asset["commitment_root"] == plan_asset.commitment_root
    assert asset["allocation_root"] == plan_asset.allocation_root
    assert asset["allocation_tree"]["hash"] == "0x" + keccak(document.canonical_json(plan_asset.allocation_dump)).hex()
    assert asset["batch_count"] == plan_asset.batches.count()
    reasons = {entry["account"]: entry["reason"] for entry in content["plan"]["exclusions"]}
    assert reasons[exploited["attacker"]] == "exploiter named in the incident"
    assert reasons[exploited["vault"]].startswith("a protocol contract named in the incident")


def test_the_stored_bytes_equal_those_of_the_canonicalize_npm_package(analysis, exploited):
    proposal, _ = freeze_proposal(plan_id=build(analysis, exploited).pk, frozen_by=None)
    try:
        node = subprocess.run(
            ["node", str(ORACLE)], input=proposal.canonical_bytes, capture_output=True, check=True, timeout=60
        )
    except FileNotFoundError:
        pytest.fail("node is not on PATH: this test compares against the `canonicalize` npm package")
    assert node.stdout == proposal.canonical_bytes


def test_a_new_plan_version_is_a_new_document_with_another_hash(analysis, exploited):
    first, _ = freeze_proposal(plan_id=build(analysis, exploited).pk, frozen_by=None)
    second_plan = build(analysis, exploited, budget=10**18)
    second, created = freeze_proposal(plan_id=second_plan.pk, frozen_by=None)
    assert created
    assert second.pk != first.pk
    assert (first.version, second.version) == (1, 2)
    assert second.content_hash != first.content_hash


def test_the_body_names_the_block_hashes_the_roots_and_ends_with_the_content_hash(analysis, exploited):
    plan = build(analysis, exploited)
    proposal, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    body = proposal.body
    plan_asset = plan.assets.get()
    assert body.rstrip("\n").splitlines()[-1] == f"content-hash: {proposal.content_hash}"
    for expected in (
        analysis.rollback_block_hash,
        analysis.reference_block_hash,
        plan_asset.commitment_root,
        plan_asset.allocation_root,
        f"/api/proposals/{proposal.pk}/document.json",
        "Rehearsal: not yet run",
    ):
        assert expected in body


def test_freezing_through_the_api_needs_the_committee_role(analysis, exploited):
    plan = build(analysis, exploited)
    url = f"/api/plans/{plan.pk}/proposal/"
    assert client_as().post(url).status_code == 401
    refused = client_as(UserFactory()).post(url)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "role_required"
    assert not ProposalDocument.objects.exists()
    committee = client_as(UserFactory(committee=True))
    created = committee.post(url)
    assert created.status_code == 201
    again = committee.post(url)
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert client_as().get(url).json()["content_hash"] == created.json()["content_hash"]


def test_a_plan_not_yet_frozen_has_no_proposal_to_read(analysis, exploited):
    answer = client_as().get(f"/api/plans/{build(analysis, exploited).pk}/proposal/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "proposal_not_found"


def test_anyone_downloads_the_exact_bytes_the_content_hash_covers(analysis, exploited):
    proposal, _ = freeze_proposal(plan_id=build(analysis, exploited).pk, frozen_by=None)
    anonymous = client_as()
    detail = anonymous.get(f"/api/proposals/{proposal.pk}/").json()
    downloaded = anonymous.get(detail["document_url"])
    assert downloaded.status_code == 200
    assert downloaded["Content-Type"] == "application/json"
    assert "0x" + keccak(downloaded.content).hex() == detail["content_hash"] == proposal.content_hash
    content = json.loads(downloaded.content)
    assert not [item for item in _walk(content) if isinstance(item, float)]
    amounts = content["assets"][0]
    assert all(isinstance(amounts[key], str) for key in ("total_claims", "total_allocated", "onchain_plan_id"))
    body = anonymous.get(detail["body_url"])
    assert body.status_code == 200
    assert body["Content-Type"].startswith("text/markdown")
    assert body.content.decode() == detail["body"] == proposal.body


def test_unknown_plans_and_proposals_answer_404(db):
    committee = client_as(UserFactory(committee=True))
    assert committee.post("/api/plans/999999/proposal/").json()["error"]["code"] == "plan_not_found"
    assert client_as().get("/api/plans/999999/proposal/").json()["error"]["code"] == "plan_not_found"
    for path in ("/api/proposals/999999/", "/api/proposals/999999/document.json", "/api/proposals/999999/body.md"):
        answer = client_as().get(path)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "proposal_not_found"


def test_the_command_freezes_a_plan_and_says_so_again_without_a_second_document(analysis, exploited):
    plan = build(analysis, exploited)
    out = io.StringIO()
    call_command("proposal", "freeze", "--plan", str(plan.pk), "--json", stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["created"] is True
    assert answer["content_hash"] == ProposalDocument.objects.get(plan=plan).content_hash
    out = io.StringIO()
    call_command("proposal", "freeze", "--plan", str(plan.pk), stdout=out)
    assert "already frozen" in out.getvalue()
    assert f"content-hash: {answer['content_hash']}" in out.getvalue()
    assert ProposalDocument.objects.count() == 1


def test_a_plan_holding_a_float_is_refused_and_nothing_is_written(analysis, exploited):
    plan = build(analysis, exploited)
    plan.summary["assets"][exploited["vault"]]["surplus"] = 0.5  # as a careless writer might store it
    plan.save(update_fields=["summary"])
    answer = client_as(UserFactory(committee=True)).post(f"/api/plans/{plan.pk}/proposal/")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "plan_not_freezable"
    assert "float" in answer.json()["error"]["message"]
    assert not ProposalDocument.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_freezes_of_one_plan_store_one_document(analysis, exploited):
    plan = build(analysis, exploited)
    answers: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def freeze() -> None:
        try:
            proposal, created = freeze_proposal(plan_id=plan.pk, frozen_by=None)
            answers.append((proposal.pk, created))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=freeze) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if connection.vendor == "sqlite":
        # SQLite serialises writers by locking the whole file: a writer that waited too long gets
        # "database is locked", and nothing of its freeze is written.
        assert all("locked" in str(error) for error in errors)
    else:
        assert errors == []
    assert len({pk for pk, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    assert ProposalDocument.objects.filter(plan=plan).count() == 1
