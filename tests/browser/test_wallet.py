"""The injected test wallet signs and sends as a browser wallet would, for anvil's dev accounts and any key."""

from eth_account import Account
from eth_account.messages import encode_defunct

from chain.demo import holder_account

TYPED = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
        "Note": [{"name": "text", "type": "string"}, {"name": "amount", "type": "uint256"}],
    },
    "domain": {"name": "Lifeboat test", "chainId": 31337},
    "primaryType": "Note",
    "message": {"text": "ünïcode ✓", "amount": "123456789012345678901234567890"},
}


def _signatures(page, account: str) -> dict:
    page.add_script_tag(url="/static/web/wallet.js")
    return page.evaluate(
        """async ([account, typed]) => ({
          personal: await window.Lifeboat.personalSign(account, "Sign in to Lifeboat ✓"),
          typed: await window.Lifeboat.signTypedData(account, typed),
        })""",
        [account, TYPED],
    )


def test_a_dev_account_signs_through_anvil_and_the_signatures_recover_to_it(page, app_url, demo, wallet):
    page.goto(app_url + "/")
    signed = _signatures(page, wallet.address)

    assert Account.recover_message(encode_defunct(text="Sign in to Lifeboat ✓"), signature=signed["personal"]) == (
        wallet.address
    )
    assert Account.recover_message(_typed(), signature=signed["typed"]) == wallet.address


def test_a_holder_key_signs_in_the_wallet_and_the_signatures_recover_to_the_holder(page, app_url, demo, wallet):
    holder = holder_account(3)
    wallet.use(holder)
    page.goto(app_url + "/")
    signed = _signatures(page, holder.address)

    assert Account.recover_message(encode_defunct(text="Sign in to Lifeboat ✓"), signature=signed["personal"]) == (
        holder.address
    )
    assert Account.recover_message(_typed(), signature=signed["typed"]) == holder.address


def test_transactions_sent_from_the_page_are_mined_for_a_dev_account_and_a_holder(page, app_url, w3, demo, wallet):
    page.goto(app_url + "/")
    page.add_script_tag(url="/static/web/wallet.js")
    send = "([from, to]) => window.Lifeboat.sendTransaction({ from, to, value: 1000n })"
    holder = holder_account(5)

    from_dev = page.evaluate(send, [wallet.address, holder.address])
    wallet.use(holder)
    from_holder = page.evaluate(send, [holder.address, wallet.address])

    assert w3.eth.wait_for_transaction_receipt(from_dev)["status"] == 1
    receipt = w3.eth.wait_for_transaction_receipt(from_holder)
    assert receipt["status"] == 1 and receipt["from"] == holder.address


def test_the_wallet_refuses_to_sign_for_an_account_it_does_not_hold(page, app_url, demo, wallet):
    page.goto(app_url + "/")
    page.add_script_tag(url="/static/web/wallet.js")

    refused = page.evaluate(
        """async ([other]) => {
          try { await window.Lifeboat.personalSign(other, "not mine"); return null; }
          catch (error) { return [error.name, error.code, error.cause.code, error.message]; }
        }""",
        [holder_account(7).address],
    )

    assert refused[:3] == ["LifeboatError", "wallet_error", 4100]
    assert "not " + holder_account(7).address in refused[3]


def _typed():
    from eth_account.messages import encode_typed_data

    return encode_typed_data(
        full_message={**TYPED, "message": {**TYPED["message"], "amount": int(TYPED["message"]["amount"])}}
    )
