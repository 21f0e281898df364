"""The snapshot API: open reads, role-checked writes, a holder's proof, and the errors."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from archive import services
from archive.models import StateSnapshot
from recovery.merkle import StandardMerkleTree
from tests.factories import UserFactory


def _client(**role) -> APIClient:
    client = APIClient()
    if role:
        client.force_authenticate(UserFactory(**role))
    return client


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.json()
    return response.json()["error"]["message"]


def test_a_committee_member_takes_and_verifies_a_snapshot_and_anyone_reads_it(tracked):
    committee = _client(committee=True)
    taken = committee.post(reverse("snapshots"), {}, format="json")
    assert taken.status_code == 201, taken.content
    body = taken.json()
    snapshot = StateSnapshot.objects.get(pk=body["id"])
    assert body["root"] == snapshot.root and body["sha256"] == snapshot.sha256 and body["registry"] is None
    assert snapshot.created_by is not None
    anonymous = _client()
    assert [row["id"] for row in anonymous.get(reverse("snapshots")).json()] == [snapshot.pk]
    assert anonymous.get(reverse("snapshot", args=[snapshot.pk])).json()["block"] == snapshot.block
    verified = committee.post(reverse("snapshot-verify", args=[snapshot.pk]))
    assert verified.status_code == 200 and verified.json()["ok"] is True and verified.json()["problems"] == []


def test_a_holder_gets_each_leaf_with_a_proof_of_the_root(tracked):
    snapshot = services.take_snapshot()
    holder = tracked.holders[1]
    answer = _client().get(reverse("snapshot-proof", args=[snapshot.pk, holder])).json()
    assert answer["root"] == snapshot.root and answer["account"] == holder and answer["leaves"]
    for leaf in answer["leaves"]:
        value = [leaf["account"], leaf["asset"], int(leaf["amount"])]
        assert StandardMerkleTree.verify_proof(answer["root"], answer["leaf_encoding"], value, leaf["proof"])
    assert answer["positions"] and answer["positions"][0]["vault"] == tracked.address("vault")


def test_an_account_with_nothing_gets_no_leaves(tracked):
    snapshot = services.take_snapshot()
    answer = _client().get(reverse("snapshot-proof", args=[snapshot.pk, "0x" + "00" * 19 + "01"])).json()
    assert answer["leaves"] == [] and answer["positions"] == []


def test_an_anonymous_write_is_401_and_a_holder_without_the_role_403(tracked):
    for url in (reverse("snapshots"), reverse("snapshot-verify", args=[1])):
        _error(_client().post(url, {}, format="json"), 401, "not_authenticated")
        message = _error(_client(executor=True).post(url, {}, format="json"), 403, "role_required")
        assert "committee" in message
    assert not StateSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("address", "needle"),
    [("0xnothex", "address"), ("0x" + "ab" * 20, "checksum"), ("12345", "address")],
)
def test_a_bad_address_is_a_400_saying_what_is_wrong(tracked, address, needle):
    snapshot = services.take_snapshot()
    message = _error(_client().get(reverse("snapshot-proof", args=[snapshot.pk, address])), 400, "invalid_input")
    assert needle in message.lower()


def test_an_unknown_snapshot_is_a_404(tracked):
    _error(_client().get(reverse("snapshot", args=[999])), 404, "snapshot_not_found")
    _error(_client().get(reverse("snapshot-proof", args=[999, tracked.holders[0]])), 404, "snapshot_not_found")
    _error(_client(committee=True).post(reverse("snapshot-verify", args=[999])), 404, "snapshot_not_found")


def test_an_unconfirmed_or_bad_block_is_refused(tracked, w3, settings):
    committee = _client(committee=True)
    _error(committee.post(reverse("snapshots"), {"block": -1}, format="json"), 400, "invalid_input")
    _error(committee.post(reverse("snapshots"), {"block": "soon"}, format="json"), 400, "invalid_input")
    settings.CONFIRMATION_DEPTH = 3
    head = w3.eth.block_number
    message = _error(committee.post(reverse("snapshots"), {"block": head}, format="json"), 409, "block_not_confirmed")
    assert "CONFIRMATION_DEPTH" in message
    _error(committee.post(reverse("snapshots"), {"block": head + 100}, format="json"), 409, "block_not_confirmed")


def test_a_proof_is_never_served_from_an_altered_file(tracked, snapshot_dir):
    snapshot = services.take_snapshot()
    path = snapshot_dir / snapshot.storage_name
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    _error(_client().get(reverse("snapshot-proof", args=[snapshot.pk, tracked.holders[0]])), 409, "snapshot_altered")


def test_taking_a_snapshot_with_nothing_tracked_says_what_to_set(
    chain_settings, snapshot_dir, demo_stack, settings, db
):
    # demo_stack, not demo: with demo the deployment is recorded for every test (tests/recovery/deployments.py).
    committee = _client(committee=True)
    message = _error(committee.post(reverse("snapshots"), {}, format="json"), 409, "nothing_tracked")
    assert "no deployment is recorded" in message
    from recovery.services import record_deployment

    record_deployment(deployment=demo_stack)
    settings.STATE_SNAPSHOT_TOKEN_ROLES = ["no_such_role"]
    message = _error(committee.post(reverse("snapshots"), {}, format="json"), 409, "nothing_tracked")
    assert "STATE_SNAPSHOT_TOKEN_ROLES" in message
