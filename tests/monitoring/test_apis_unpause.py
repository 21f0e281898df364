"""``POST /api/monitoring/unpause/`` on the session's anvil: the committee unpauses a paused watched
contract with the guardian key, recorded with who asked; an unpaused contract is a 409 and nothing
is sent."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from chain import devkeys
from chain.guardian import PAUSE_CALLDATA, is_paused
from chain.keys import load_account
from monitoring.models import PauseAction, PauseRecord
from tests.factories import UserFactory
from tests.monitoring.sample_monitors import SECRET_PARTS, build_world

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


@pytest.fixture
def guardian(settings) -> str:
    keys = settings.LIFEBOAT_KEYS
    settings.LIFEBOAT_KEYS = {
        **keys,
        "guardian": {**keys["guardian"], "private_key": devkeys.COMMITTEE_KEY, "keystore": ""},
    }
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10
    return load_account(private_key=devkeys.COMMITTEE_KEY).address


def test_the_committee_unpauses_a_paused_vault_and_it_is_recorded_with_them(w3, anvil, demo, chain_settings, guardian):
    vault = demo.address("vault")
    world = build_world(rpc_url=anvil.url)
    world.watched.contracts = {**world.watched.contracts, "vault": vault}
    world.watched.save(update_fields=["contracts"])
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": guardian, "to": vault, "data": PAUSE_CALLDATA})
    )
    assert is_paused(w3, vault)
    client = APIClient()
    client.force_authenticate(UserFactory(username="unpauser", committee=True))

    response = client.post(reverse("api-monitoring-unpause"), {"contract": vault, "note": "fixed"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "unpause" and body["contract"] == vault and body["by_user"] == "unpauser"
    assert body["by_address"] == guardian and body["note"] == "fixed"
    assert not is_paused(w3, vault)
    assert w3.eth.get_transaction_receipt(body["tx_hash"])["blockNumber"] == body["block_number"]
    record = PauseRecord.objects.get(action=PauseAction.UNPAUSE)
    assert record.by_user.username == "unpauser"
    log = APIClient().get(reverse("api-monitoring-pauses")).json()
    assert log["results"][0]["id"] == record.pk  # newest first, read anonymously
    for part in SECRET_PARTS:
        assert part not in response.content.decode()

    nonce = w3.eth.get_transaction_count(guardian)
    again = client.post(reverse("api-monitoring-unpause"), {"contract": vault}, format="json")

    assert again.status_code == 409 and again.json()["error"]["code"] == "contract_not_paused"
    assert w3.eth.get_transaction_count(guardian) == nonce
