"""The vault page (``/vault/``): the emergency state, what an account can withdraw, the escape-hatch
download, and the committee's shutdown with its confirmation. Django's test client on the session anvil."""

import hashlib
import html
import re

import pytest
from django.conf import settings
from django.test import Client

from chain.artifacts import bind
from chain.demo import holder_account
from chain.vault import emergency_withdraw, shutdown_vault, withdrawable
from proposals.document import format_units
from recovery.escape_hatch import build_escape_hatch, render_escape_hatch
from recovery.models import VaultShutdown
from recovery.selectors import get_current_deployment
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.fixture
def deployment(demo, chain_settings, db):
    return get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)


def _html(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def _text(response) -> str:
    """The page's words, without tags."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", response.content.decode())))


def _member(username: str = "vault-member") -> Client:
    client = Client()
    client.force_login(UserFactory(username=username, committee=True))
    return client


def test_an_open_vault_shows_its_collateral_and_no_shutdown_form_to_the_public(deployment, demo, w3):
    response = Client().get("/vault/")
    text = _text(response)
    total = bind(w3, "DemoVault", demo.address("vault")).functions.totalAssets().call()

    assert response.status_code == 200
    assert "Open: not paused, not shut down." in text
    assert f"{format_units(total, 6)} dUSD ({total} base units)" in text
    assert demo.address("vault") in text
    assert 'data-testid="shutdown"' not in _html(response)  # the form is the committee's


def test_a_shut_down_vault_shows_since_when_and_how_much_has_left(deployment, demo, w3, committee_account):
    vault = demo.address("vault")
    shut = shutdown_vault(w3, vault, committee_account)
    first = holder_account(0)
    w3.provider.make_request("anvil_setBalance", [first.address, hex(10**18)])
    taken = emergency_withdraw(w3, vault, first, first.address)
    left = shut.assets - taken.assets

    text = _text(Client().get("/vault/"))

    assert f"Shut down since block {shut.block}" in text
    bp = taken.assets * 10_000 // shut.assets
    assert f"{format_units(shut.assets, 6)} dUSD ({shut.assets} base units)" in text
    assert f"{format_units(taken.assets, 6)} dUSD ({taken.assets} base units), {bp // 100}.{bp % 100:02d}%" in text
    lp = left * 10_000 // shut.assets
    assert f"{format_units(left, 6)} dUSD ({left} base units), {lp // 100}.{lp % 100:02d}%" in text


def test_any_address_can_be_looked_up_without_signing_in(deployment, demo, w3):
    holder = demo.holders[3]
    shares, assets = withdrawable(w3, demo.address("vault"), holder, w3.eth.block_number)

    text = _text(Client().get("/vault/", {"address": holder.lower()}))

    assert holder in text and f"({shares} base units)" in text
    assert f"The vault is open: redeeming all its shares pays this account {format_units(assets, 6)} dUSD." in text


def test_the_signed_in_holder_sees_their_own_position(deployment, demo, w3):
    holder = demo.holders[4]
    client = Client()
    session = client.session
    session["holder_address"] = holder
    session.save()
    _, assets = withdrawable(w3, demo.address("vault"), holder, w3.eth.block_number)

    text = _text(client.get("/vault/"))

    assert f"{holder} (you are signed in with it)" in text
    assert f"({assets} base units)" in text


@pytest.mark.parametrize("query", ["0x1234", "hello", ""])
def test_a_malformed_address_is_a_400_page_with_the_form_again(deployment, query):
    response = Client().get("/vault/", {"address": query})

    assert response.status_code == 400
    assert "is not an address: give 0x followed by 40 hex digits" in _text(response)
    assert 'aria-invalid="true"' in _html(response) and "Look up an address" in _text(response)


def test_the_escape_hatch_download_is_the_built_file_and_its_hash_is_on_the_page(deployment, tmp_path):
    unrecorded = _text(Client().get("/vault/"))
    built = build_escape_hatch(deployment=deployment, out_dir=tmp_path)

    download = Client().get(f"/vault/{deployment.pk}/escape-hatch.html")
    missing = Client().get("/vault/987654/escape-hatch.html")
    page = _text(Client().get("/vault/"))

    assert download.status_code == 200 and download.content == built.path.read_bytes()
    assert download.content == render_escape_hatch(deployment)
    assert download["Content-Disposition"] == f'attachment; filename="{built.path.name}"'
    assert download["X-Content-SHA256"] == hashlib.sha256(download.content).hexdigest() == built.build.sha256
    assert built.build.sha256 in page and f"yes: build {built.build.pk}" in page
    assert "not yet: the committee records it" in unrecorded
    assert missing.status_code == 404 and "There is no deployment 987654." in _text(missing)


def test_the_committee_shuts_down_only_after_confirming_and_only_once(deployment, demo, w3):
    client = _member()
    assert 'data-testid="shutdown"' in _html(client.get("/vault/"))

    unconfirmed = client.post("/vault/shutdown/")
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm: a shutdown cannot be undone." in _text(unconfirmed)
    assert not VaultShutdown.objects.exists()

    done = client.post("/vault/shutdown/", {"confirm": "yes"}, follow=True)
    (record,) = VaultShutdown.objects.all()
    text = _text(done)
    assert done.redirect_chain == [("/vault/", 302)]
    assert f"The vault is shut down (block {record.block_number}, transaction {record.tx_hash})." in text
    assert record.tx_hash in text and "vault-member" in text  # the shutdowns table: who asked, the transaction
    assert "there is nothing left to send" in text

    again = client.post("/vault/shutdown/", {"confirm": "yes"}, follow=True)
    assert f"already shut down in block {record.block_number}: nothing was sent" in _text(again)
    assert VaultShutdown.objects.count() == 1


def test_the_shutdown_form_refuses_the_wrong_role_and_sends_anonymous_to_sign_in(deployment, demo, w3):
    executor = Client()
    executor.force_login(UserFactory(username="vault-executor", executor=True))

    refused = executor.post("/vault/shutdown/", {"confirm": "yes"})
    anonymous = Client().post("/vault/shutdown/", {"confirm": "yes"})

    assert refused.status_code == 403 and "Shutting down the vault needs the committee role" in _text(refused)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert not bind(w3, "DemoVault", demo.address("vault")).functions.isShutdown().call()


def test_a_node_that_does_not_answer_still_serves_the_page_and_the_escape_hatch(deployment, settings):
    settings.CHAIN_RPC_URL = "http://user:secret-key@127.0.0.1:9/secret-path"
    deployment.rpc_url = settings.CHAIN_RPC_URL
    deployment.save(update_fields=["rpc_url"])

    response = Client().get("/vault/")
    text = _text(response)

    assert response.status_code == 200
    assert "The chain could not be read" in text and "secret" not in text
    assert "Download the escape-hatch page" in text and "lifeboat-escape-hatch-" in text
