"""The escape-hatch page opened from a file in chromium, with the test wallet as ``window.ethereum``.

No server runs: the page is built for the session's demo deployment into a temporary folder and
opened as ``file://``. The test wallet signs as a demo holder and forwards everything else to the
session's anvil. Every request the page makes is watched: only the file itself may be loaded.
"""

import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chain.artifacts import bind
from chain.demo import holder_account
from chain.vault import shutdown_vault, vault_state, withdrawable
from recovery.escape_hatch import build_escape_hatch
from recovery.models import VaultShutdown
from recovery.selectors import get_current_deployment
from tests.browser.conftest import AXE, axe, screenshot, staff_login
from tests.browser.wallet import TestWallet
from tests.factories import UserFactory

HOLDER_INDEX = 1


class SwitchableWallet(TestWallet):
    """The test wallet, able to sit on another chain until the page asks it to switch."""

    __test__ = False

    def __init__(self, w3: Any, address: str) -> None:
        super().__init__(w3, address)
        self.chain: int | None = None  # None: anvil's own chain id
        self.switch_requests: list[str] = []

    def answer(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_chainId" and self.chain is not None:
            self.requests.append(method)
            return {"result": hex(self.chain)}
        if method == "wallet_switchEthereumChain":
            self.requests.append(method)
            self.switch_requests.append(params[0]["chainId"])
            if int(params[0]["chainId"], 16) == self.w3.eth.chain_id:
                self.chain = None
                return {"result": None}
            return {"error": {"code": 4902, "message": "Unrecognized chain ID"}}
        return super().answer(method, params)


@pytest.fixture
def wallet(w3: Any) -> SwitchableWallet:
    """Overrides the browser conftest's wallet: a demo holder's key, on the right chain until a test moves it."""
    held = SwitchableWallet(w3, holder_account(HOLDER_INDEX).address)
    held.use(holder_account(HOLDER_INDEX))
    return held


@pytest.fixture
def hatch_file(demo: Any, chain_settings: Any, db: None, tmp_path: Path) -> Path:
    """The page built for the session's demo deployment (recorded by ``recorded_demo_deployment``)."""
    deployment = get_current_deployment(rpc_url=chain_settings.CHAIN_RPC_URL)
    return build_escape_hatch(deployment=deployment, out_dir=tmp_path).path


@pytest.fixture
def requests_seen(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def _axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings. The page's CSP refuses a script tag (what the
    conftest's ``axe`` adds), so axe is evaluated through the DevTools protocol instead."""
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => (await axe.run(document, {
             runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
           })).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.map((n) => n.target.join(" ")) }))"""
    )
    return [violation for violation in found if violation["impact"] in ("serious", "critical")]


def test_a_depositor_takes_exactly_their_share_from_a_shut_down_vault(
    page, wallet, hatch_file, requests_seen, console_errors, demo, w3, committee_account
):
    vault, asset = demo.address("vault"), demo.address("asset")
    holder = holder_account(HOLDER_INDEX).address
    token = bind(w3, "DemoAsset", asset)
    shut = shutdown_vault(w3, vault, committee_account)
    shares, owed = withdrawable(w3, vault, holder, shut.block)
    assert shares > 0 and owed > 0
    balance_before = token.functions.balanceOf(holder).call()

    page.goto(hatch_file.as_uri())
    expect(page.get_by_test_id("baked-chain")).to_have_text(str(w3.eth.chain_id))
    page.get_by_role("button", name="Connect wallet").click()
    expect(page.get_by_test_id("account")).to_have_text(holder)
    expect(page.get_by_test_id("vault-state")).to_contain_text("Shut down")
    expect(page.get_by_test_id("shares")).to_contain_text(f"({shares} base units)")
    expect(page.get_by_test_id("worth")).to_contain_text(f"({owed} base units)")
    withdraw = page.get_by_test_id("withdraw")
    expect(withdraw).to_contain_text("Emergency withdraw")
    assert _axe(page) == []
    screenshot(page, "escape-hatch-shut-down")

    withdraw.click()
    expect(page.get_by_test_id("status")).to_contain_text("Done: withdrawn in block", timeout=20_000)
    tx_hash = page.get_by_test_id("tx-hash").inner_text()
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1 and receipt["to"] == vault and receipt["from"] == holder
    assert token.functions.balanceOf(holder).call() == balance_before + owed
    assert bind(w3, "DemoVault", vault).functions.balanceOf(holder).call() == 0
    expect(page.get_by_test_id("shares")).to_contain_text("(0 base units)")
    expect(page.get_by_test_id("withdraw")).to_be_hidden()
    screenshot(page, "escape-hatch-withdrawn")

    # At a phone's width nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "escape-hatch-phone")

    assert wallet.requests.count("eth_sendTransaction") == 1
    assert all(url.startswith("file://") for url in requests_seen), requests_seen
    assert console_errors == []


def test_an_open_vault_is_left_by_redeem_for_exactly_what_the_shares_are_worth(
    page, wallet, hatch_file, requests_seen, console_errors, demo, w3
):
    vault = demo.address("vault")
    holder = holder_account(HOLDER_INDEX).address
    token = bind(w3, "DemoAsset", demo.address("asset"))
    block = w3.eth.block_number
    assert not vault_state(w3, vault, block).paused
    shares, owed = withdrawable(w3, vault, holder, block)
    balance_before = token.functions.balanceOf(holder).call()

    page.goto(hatch_file.as_uri())
    page.get_by_role("button", name="Connect wallet").click()
    expect(page.get_by_test_id("vault-state")).to_have_text("Open")
    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("status")).to_contain_text("Done: withdrawn in block", timeout=20_000)

    assert token.functions.balanceOf(holder).call() == balance_before + owed
    assert bind(w3, "DemoVault", vault).functions.balanceOf(holder).call() == 0 < shares
    assert all(url.startswith("file://") for url in requests_seen), requests_seen
    assert console_errors == []


def test_the_page_refuses_the_wrong_chain_until_the_wallet_switches(
    page, wallet, hatch_file, requests_seen, console_errors, demo, w3
):
    wallet.chain = 1

    page.goto(hatch_file.as_uri())
    page.get_by_role("button", name="Connect wallet").click()
    status = page.get_by_test_id("status")
    expect(status).to_contain_text(
        f"Wrong chain: your wallet is on chain 1, but this vault is on chain {w3.eth.chain_id}"
    )
    expect(page.get_by_test_id("withdraw")).to_be_hidden()
    assert "eth_call" not in wallet.requests and "eth_sendTransaction" not in wallet.requests
    assert _axe(page) == []
    screenshot(page, "escape-hatch-wrong-chain")

    page.get_by_role("button", name=f"Switch wallet to chain {w3.eth.chain_id}").click()
    expect(page.get_by_test_id("vault-state")).to_have_text("Open")
    expect(page.get_by_test_id("withdraw")).to_be_visible()
    assert wallet.switch_requests == [hex(w3.eth.chain_id)]
    assert all(url.startswith("file://") for url in requests_seen), requests_seen
    assert console_errors == []


def test_a_paused_vault_offers_no_withdraw_and_says_why(
    page, wallet, hatch_file, console_errors, demo, w3, committee_account
):
    from chain.transact import send

    send(w3, committee_account, bind(w3, "DemoVault", demo.address("vault")).functions.pause())

    page.goto(hatch_file.as_uri())
    page.get_by_role("button", name="Connect wallet").click()
    expect(page.get_by_test_id("vault-state")).to_have_text("Paused: withdrawals are stopped")
    expect(page.get_by_test_id("status")).to_contain_text("The vault is paused")
    expect(page.get_by_test_id("withdraw")).to_be_hidden()
    assert console_errors == []


def test_the_committee_shuts_down_from_the_vault_page_and_a_holder_leaves_through_the_downloaded_file(
    page, wallet, app_url, demo, w3, tmp_path, requests_seen, console_errors
):
    """The whole first response in the browser: the vault page, the confirmed shutdown, the download, the exit."""
    UserFactory(username="vault-committee", committee=True)
    holder = holder_account(HOLDER_INDEX).address
    vault = demo.address("vault")
    token = bind(w3, "DemoAsset", demo.address("asset"))

    staff_login(page, app_url, "vault-committee")
    page.goto(f"{app_url}/vault/")
    expect(page.get_by_test_id("vault-summary")).to_contain_text("Open: not paused, not shut down.")
    assert axe(page) == []
    page.get_by_test_id("shutdown").click()
    expect(page.locator("#shutdown-confirm-error")).to_contain_text("Tick the box to confirm")
    page.get_by_label("I understand that a shutdown cannot be undone.").check()
    page.get_by_test_id("shutdown").click()
    expect(page.get_by_test_id("messages")).to_contain_text("The vault is shut down (block")
    record = VaultShutdown.objects.get()
    expect(page.get_by_test_id("vault-summary")).to_contain_text(f"Shut down since block {record.block_number}")
    expect(page.get_by_test_id("already-shut-down")).to_be_visible()
    assert axe(page) == []
    screenshot(page, "vault-page-shut-down")

    page.get_by_label("Look up an address").fill(holder)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_test_id("position-explanation")).to_contain_text("emergencyWithdraw pays this account")
    shares, owed = withdrawable(w3, vault, holder, record.block_number)
    expect(page.get_by_test_id("position-assets")).to_contain_text(f"({owed} base units)")
    sha256 = page.get_by_test_id("hatch-sha256").inner_text()
    with page.expect_download() as started:
        page.get_by_test_id("hatch-download").click()
    downloaded = tmp_path / started.value.suggested_filename
    started.value.save_as(downloaded)
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == sha256

    before = token.functions.balanceOf(holder).call()
    requests_seen.clear()
    page.goto(downloaded.as_uri())
    page.get_by_role("button", name="Connect wallet").click()
    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("status")).to_contain_text("Done: withdrawn in block", timeout=20_000)
    assert token.functions.balanceOf(holder).call() == before + owed and shares > 0
    assert all(url.startswith("file://") for url in requests_seen), requests_seen
    # The one refusal the test asked for: the shutdown posted without its confirmation.
    assert [error.split(" (http")[0] for error in console_errors] == [
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    assert console_errors[0].endswith("/vault/shutdown/)")
