"""The vault's emergency state and its shutdown, through the services and the API, on the session anvil.

Reads: paused, shut down since which block, the collateral at shutdown, left and withdrawn (exact),
and what one account can withdraw. The shutdown: sent once with the guardian key and recorded;
asked again, it sends nothing. Each role, bad addresses, and a node that does not answer.
"""

import pytest
from rest_framework.test import APIClient

from chain import devkeys
from chain.artifacts import bind
from chain.demo import holder_account
from chain.transact import send
from chain.vault import emergency_withdraw, shutdown_vault, withdrawable
from recovery.models import VaultShutdown
from recovery.vault_shutdown import GuardianUnavailable, shut_down_vault
from recovery.vault_status import percent_text, read_account_withdrawable, read_vault_status
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_percentages_are_exact_integers_rounded_down():
    assert percent_text(1, 3) == "33.33%"
    assert percent_text(2, 3) == "66.66%"
    assert percent_text(10**30, 10**30) == "100.00%"
    assert percent_text(0, 5) == "0.00%"
    assert percent_text(5, 0) == "—"


def test_an_open_vault_reads_as_open_with_all_its_collateral(deployment, demo, w3):
    status = read_vault_status(deployment=deployment)
    vault = bind(w3, "DemoVault", demo.address("vault"))

    assert (status.state.paused, status.state.shut_down, status.withdrawn) == (False, False, 0)
    assert status.left == status.state.total_assets == vault.functions.totalAssets().call(block_identifier=status.block)
    assert status.block_hash == w3.eth.get_block(status.block)["hash"].to_0x_hex()
    assert (status.asset_symbol, status.asset_decimals, status.share_decimals) == ("dUSD", 6, 6)


def test_after_shutdown_the_state_tracks_what_has_left_exactly(deployment, demo, w3, committee_account):
    vault = demo.address("vault")
    shut = shutdown_vault(w3, vault, committee_account)
    first = holder_account(0)
    w3.provider.make_request("anvil_setBalance", [first.address, hex(10**18)])
    taken = emergency_withdraw(w3, vault, first, first.address)

    status = read_vault_status(deployment=deployment)
    body = _client().get("/api/vault/").json()

    assert status.state.shut_down and status.state.shutdown_block == shut.block
    assert status.state.shutdown_assets == shut.assets
    assert status.withdrawn == taken.assets and status.left == shut.assets - taken.assets
    assert body["shut_down"] is True and body["shutdown_block"] == shut.block
    assert body["shutdown_assets"] == str(shut.assets)
    assert body["withdrawn_since_shutdown"] == str(taken.assets)
    assert body["total_assets"] == str(shut.assets - taken.assets)
    assert body["withdrawn_percent"] == percent_text(taken.assets, shut.assets)


def test_an_account_is_told_what_it_can_withdraw_and_how(deployment, demo, w3, committee_account):
    holder = demo.holders[2]
    before = read_account_withdrawable(deployment=deployment, account=holder.lower())
    shares, assets = withdrawable(w3, demo.address("vault"), holder, before.status.block)
    assert (before.account, before.shares, before.assets, before.action) == (holder, shares, assets, "redeem")

    send(w3, committee_account, bind(w3, "DemoVault", demo.address("vault")).functions.pause())
    assert read_account_withdrawable(deployment=deployment, account=holder).action == "paused"

    shutdown_vault(w3, demo.address("vault"), committee_account)
    body = _client().get(f"/api/vault/accounts/{holder}/").json()
    assert body["action"] == "emergency_withdraw" and body["assets"] == str(assets) and body["shares"] == str(shares)
    assert "emergencyWithdraw pays this account" in body["explanation"]

    stranger = "0x" + "12" * 20
    nothing = _client().get(f"/api/vault/accounts/{stranger}/").json()
    assert (nothing["shares"], nothing["assets"], nothing["action"]) == ("0", "0", "nothing")


@pytest.mark.parametrize("address", ["0x1234", "not-an-address", "0x" + "zz" * 20, "0x" + "ab" * 21])
def test_a_malformed_address_is_a_400_that_says_what_an_address_is(deployment, address):
    response = _client().get(f"/api/vault/accounts/{address}/")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["detail"] == {"field": "address"}
    assert "is not an address: give 0x followed by 40 hex digits" in error["message"]


def test_the_committee_shuts_the_vault_down_once_and_it_is_recorded(deployment, demo, w3):
    member = UserFactory(username="guardian-member", committee=True)
    client = _client(member)

    first = client.post("/api/vault/shutdown/")
    again = client.post("/api/vault/shutdown/")

    assert first.status_code == 201, first.json()
    (record,) = VaultShutdown.objects.all()
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)
    assert receipt["status"] == 1 and receipt["to"] == demo.address("vault")
    assert (record.requested_by, record.sent_by, record.block_number) == (
        member,
        demo.committee,
        receipt["blockNumber"],
    )
    assert first.json()["tx_hash"] == record.tx_hash and first.json()["already"] is False
    assert again.status_code == 200 and again.json()["already"] is True and again.json()["tx_hash"] is None
    assert again.json()["shutdown_block"] == receipt["blockNumber"]
    assert "already shut down" in again.json()["message"]
    assert VaultShutdown.objects.count() == 1
    assert bind(w3, "DemoVault", demo.address("vault")).functions.isShutdown().call()


def test_a_vault_shut_down_by_governance_beforehand_is_not_sent_to_again(deployment, demo, w3, timelock):
    vault = bind(w3, "DemoVault", demo.address("vault"))
    vault.functions.shutdown().transact({"from": timelock})
    head = w3.eth.block_number

    outcome = shut_down_vault(deployment=deployment, requested_by=None)

    assert outcome.already and outcome.record is None and w3.eth.block_number == head
    assert not VaultShutdown.objects.exists()


def test_a_guardian_key_without_the_right_is_refused_in_words(deployment, demo, w3, settings):
    settings.LIFEBOAT_KEYS = {**settings.LIFEBOAT_KEYS, "guardian": {**settings.LIFEBOAT_KEYS["guardian"]}}
    settings.LIFEBOAT_KEYS["guardian"]["private_key"] = devkeys.ATTACKER_KEY

    with pytest.raises(GuardianUnavailable, match="may not shut the vault down"):
        shut_down_vault(deployment=deployment, requested_by=None)

    response = _client(UserFactory(username="member-wrong-key", committee=True)).post("/api/vault/shutdown/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "guardian_unavailable"
    assert devkeys.ATTACKER_KEY[2:] not in response.content.decode()
    assert not bind(w3, "DemoVault", demo.address("vault")).functions.isShutdown().call()


def test_shutdown_needs_the_committee_role(deployment, demo, w3):
    anonymous = _client().post("/api/vault/shutdown/")
    executor = _client(UserFactory(username="not-a-member", executor=True)).post("/api/vault/shutdown/")

    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous
    assert executor.status_code == 403 and executor.json()["error"]["code"] == "role_required"
    assert "needs the committee role" in executor.json()["error"]["message"]
    assert not VaultShutdown.objects.exists()
    assert not bind(w3, "DemoVault", demo.address("vault")).functions.isShutdown().call()


def test_a_node_that_does_not_answer_is_a_503_naming_no_url(deployment, settings):
    settings.CHAIN_RPC_URL = "http://user:secret-key@127.0.0.1:9/v3/secret-path"
    deployment.rpc_url = settings.CHAIN_RPC_URL
    deployment.save(update_fields=["rpc_url"])

    reads = _client().get("/api/vault/")
    shutdown = _client(UserFactory(username="member-node-down", committee=True)).post("/api/vault/shutdown/")

    for response in (reads, shutdown):
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "chain_unavailable"
        assert "secret" not in response.content.decode()
    assert not VaultShutdown.objects.exists()


def test_no_deployment_recorded_is_a_404_that_says_so(db, settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"

    response = _client().get("/api/vault/")

    assert response.status_code == 404 and response.json()["error"]["code"] == "vault_not_found"
    assert "no deployment is recorded for the configured node" in response.json()["error"]["message"]


def test_a_node_on_another_chain_than_the_deployments_is_refused_before_sending(deployment, demo, w3):
    deployment.chain_id = 1
    deployment.save(update_fields=["chain_id"])
    head = w3.eth.block_number

    response = _client(UserFactory(username="member-other-chain", committee=True)).post("/api/vault/shutdown/")

    assert response.status_code == 409 and response.json()["error"]["code"] == "chain_mismatch"
    message = response.json()["error"]["message"]
    assert "reports chain id 31337, not 1: the deployment's vault is on chain 1; nothing was sent" in message
    assert w3.eth.block_number == head and not VaultShutdown.objects.exists()
