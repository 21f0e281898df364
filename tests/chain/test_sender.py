"""chain/sender.py on anvil: fees under the cap, bumps of at least 10% in integers, a rebroadcast
of the same bytes treated as sent, the mined hash found among several, canonical blocks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import devkeys
from chain import sender as chain_sender
from chain.keys import load_account

CAP = 500 * 10**9


@given(st.integers(min_value=0, max_value=2**128), st.integers(min_value=0, max_value=2**128))
def test_a_bump_raises_each_fee_by_at_least_ten_percent_in_integers(max_fee, priority):
    previous = chain_sender.Fees(max_fee, min(priority, max_fee))
    bumped = chain_sender.bump_fees(previous, cap=2**256)
    assert bumped.max_fee_per_gas * 10 >= previous.max_fee_per_gas * 11
    assert bumped.max_fee_per_gas > previous.max_fee_per_gas
    assert bumped.max_priority_fee_per_gas <= bumped.max_fee_per_gas
    assert isinstance(bumped.max_fee_per_gas, int)


def test_a_bump_past_the_cap_is_refused_rather_than_capped():
    assert chain_sender.bump_fees(chain_sender.Fees(100, 10), cap=109) is None
    assert chain_sender.bump_fees(chain_sender.Fees(100, 10), cap=110) == chain_sender.Fees(110, 11)


def test_suggested_fees_stay_under_the_cap_and_a_cap_below_the_base_fee_is_refused(w3):
    fees = chain_sender.suggest_fees(w3, cap=CAP)
    assert 0 < fees.max_priority_fee_per_gas <= fees.max_fee_per_gas <= CAP
    with pytest.raises(chain_sender.FeeCapTooLow, match="EXECUTION_MAX_FEE_PER_GAS"):
        chain_sender.suggest_fees(w3, cap=0)


def _self_send(w3, account, nonce, fees):
    return chain_sender.sign(
        account, chain_id=w3.eth.chain_id, nonce=nonce, to=account.address, data=b"", gas=21_000, fees=fees
    )


def test_the_same_bytes_sent_twice_are_treated_as_sent_and_the_mined_hash_is_found(w3, demo):
    account = load_account(private_key=devkeys.COMMITTEE_KEY)
    nonce = w3.eth.get_transaction_count(account.address)
    fees = chain_sender.suggest_fees(w3, cap=CAP)
    signed = _self_send(w3, account, nonce, fees)

    assert chain_sender.broadcast(w3, signed.raw).fresh
    again = chain_sender.broadcast(w3, signed.raw)  # mined already (automine): "nonce too low" or "known"
    assert again.outcome in {"nonce_too_low", "already_known", "accepted"}

    other = _self_send(w3, account, nonce, chain_sender.bump_fees(fees, cap=CAP))
    mined = chain_sender.find_mined(w3, [other.tx_hash, signed.tx_hash])
    assert mined is not None and "0x" + bytes(mined["transactionHash"]).hex() == signed.tx_hash
    assert chain_sender.is_canonical(w3, mined["blockNumber"], "0x" + bytes(mined["blockHash"]).hex())
    assert not chain_sender.is_canonical(w3, mined["blockNumber"], "0x" + "00" * 32)


def test_a_replacement_below_the_bump_is_answered_underpriced_and_a_bumped_one_replaces(w3, demo):
    account = load_account(private_key=devkeys.COMMITTEE_KEY)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        fees = chain_sender.suggest_fees(w3, cap=CAP)
        first = _self_send(w3, account, nonce, fees)
        assert chain_sender.broadcast(w3, first.raw).fresh
        assert chain_sender.broadcast(w3, first.raw).outcome in {"already_known", "accepted"}
        same_fee = chain_sender.sign(
            account, chain_id=w3.eth.chain_id, nonce=nonce, to=account.address, data=b"\x01", gas=30_000, fees=fees
        )
        assert chain_sender.broadcast(w3, same_fee.raw).outcome == "underpriced"
        bumped = _self_send(w3, account, nonce, chain_sender.bump_fees(fees, cap=CAP))
        assert chain_sender.broadcast(w3, bumped.raw).fresh
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    mined = chain_sender.find_mined(w3, [first.tx_hash, same_fee.tx_hash, bumped.tx_hash])
    assert "0x" + bytes(mined["transactionHash"]).hex() == bumped.tx_hash
    assert chain_sender.receipt(w3, first.tx_hash) is None
