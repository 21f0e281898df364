"""The first browser checks: the home page in Debian's chromium, and wallet.js's proof check run in the page."""

import pytest

from recovery import plans, selectors
from recovery.plans import ALLOCATION_LEAF_ENCODING
from tests.browser.conftest import axe, screenshot
from tests.factories import analysed_exploit

pytestmark = pytest.mark.browser

VERIFY = "([root, encoding, value, proof]) => window.Lifeboat.verifyProof(root, encoding, value, proof)"


def test_the_home_page_renders_in_chromium_without_errors_or_serious_accessibility_violations(
    page, app_url, demo, console_errors
):
    response = page.goto(app_url + "/")

    assert response is not None and response.status == 200
    assert page.title() == "Lifeboat · home"
    assert page.get_by_test_id("chain-status").inner_text() == "live"
    assert page.get_by_role("heading", level=1).count() == 1
    shot = screenshot(page, "home")
    assert shot.stat().st_size > 0
    assert axe(page) == []
    assert console_errors == []


def test_the_test_wallet_answers_as_an_eip1193_provider_backed_by_anvil(page, app_url, demo, wallet):
    page.goto(app_url + "/")
    page.add_script_tag(url="/static/web/wallet.js")

    connected = page.evaluate("() => window.Lifeboat.connect()")
    signature = page.evaluate("([account]) => window.Lifeboat.personalSign(account, 'Lifeboat ✓')", [wallet.address])
    refused = page.evaluate(
        """async () => {
          try { await window.ethereum.request({ method: "eth_sign", params: [] }); return null; }
          catch (error) { return error.code; }
        }"""
    )

    assert connected == {"account": wallet.address, "chainId": demo.chain_id}
    assert signature.startswith("0x") and len(signature) == 132
    assert refused == 4200


def _real_proof(anvil, exploited) -> dict:
    """A victim's allocation leaf and proof from a plan built on the exploited demo (restitute in full)."""
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    position = selectors.account_position(plan_id=plan.pk, account=exploited["victims"][0])
    asset = next(asset for asset in position["assets"] if asset["proof"])
    return {
        "root": asset["allocation_root"],
        "value": [asset["leaf_index"], position["account"], asset["allocation"]],
        "proof": asset["proof"],
    }


def test_wallet_js_checks_a_real_allocation_proof_in_the_page_and_refuses_a_tampered_one(
    page, app_url, anvil, exploited, console_errors
):
    proof = _real_proof(anvil, exploited)
    encoding = list(ALLOCATION_LEAF_ENCODING)
    page.goto(app_url + "/")
    page.add_script_tag(url="/static/web/wallet.js")

    def verify(root, value, nodes) -> bool:
        return page.evaluate(VERIFY, [root, encoding, value, nodes])

    one_more = [proof["value"][0], proof["value"][1], str(int(proof["value"][2]) + 1)]
    flipped = proof["proof"][0][:-1] + ("0" if proof["proof"][0][-1] != "0" else "1")

    assert verify(proof["root"], proof["value"], proof["proof"]) is True
    assert verify(proof["root"], one_more, proof["proof"]) is False
    assert verify(proof["root"], proof["value"], [flipped, *proof["proof"][1:]]) is False
    assert verify(proof["root"], proof["value"], proof["proof"][:-1]) is False
    assert console_errors == []


@pytest.mark.parametrize(
    ("root", "value", "nodes", "message"),
    [
        ("0x1234", [0, "0x" + "11" * 20, "1"], [], "the root is not 32 bytes of hex"),
        ("0x" + "00" * 32, [0, "0x" + "11" * 20], [], "the leaf has 2 values for 3 types"),
        ("0x" + "00" * 32, [0, "not an address", "1"], [], "does not encode"),
        ("0x" + "00" * 32, [0, "0x" + "11" * 20, "1.5"], [], "is not an integer"),
        ("0x" + "00" * 32, [0, "0x" + "11" * 20, "1"], ["0xzz"], "proof node [0] is not 32 bytes of hex"),
    ],
)
def test_wallet_js_refuses_malformed_proof_input_with_a_clear_message(page, app_url, root, value, nodes, message):
    page.goto(app_url + "/")
    page.add_script_tag(url="/static/web/wallet.js")

    thrown = page.evaluate(
        """([root, value, nodes]) => {
          try { window.Lifeboat.verifyProof(root, ["uint256", "address", "uint256"], value, nodes); return null; }
          catch (error) { return [error.name, error.message]; }
        }""",
        [root, value, nodes],
    )

    assert thrown is not None and thrown[0] == "LifeboatError"
    assert message in thrown[1]
