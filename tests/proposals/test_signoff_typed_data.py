"""The sign-off typed data and its digest, against ethers (an independent EIP-712 implementation)."""

import pytest
from eth_account import Account

from chain import devkeys
from proposals import signoff
from tests.eip712_oracle import ethers_typed_data

EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CONTENT_HASH = "0x" + "c0ffee" * 10 + "abcd"
BIG = 2**256 - 1  # uint256 values beyond JavaScript's numbers travel as decimal strings


def typed(**overrides):
    arguments = {
        "chain_id": 31337,
        "recovery_executor": EXECUTOR,
        "incident_id": 7,
        "version": 2,
        "content_hash": CONTENT_HASH,
    }
    return signoff.signoff_typed_data(**{**arguments, **overrides})


def test_the_typed_data_is_json_with_uint256_as_decimal_strings():
    data = typed(chain_id=BIG, incident_id=BIG)
    assert data["primaryType"] == "ProposalSignOff"
    assert data["domain"] == {
        "name": "Lifeboat",
        "version": "1",
        "chainId": str(BIG),
        "verifyingContract": EXECUTOR,
    }
    assert data["message"] == {"incidentId": str(BIG), "version": "2", "contentHash": CONTENT_HASH}
    assert [field["type"] for field in data["types"]["ProposalSignOff"]] == ["uint256", "uint256", "bytes32"]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"chain_id": 1, "incident_id": BIG, "version": 1},
        {"chain_id": 11155111, "recovery_executor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
    ],
)
def test_the_digest_and_an_ethers_signature_agree_with_ethers(overrides):
    data = typed(**overrides)
    key = devkeys.COMMITTEE_KEYS[1]
    ethers = ethers_typed_data(data, private_key=key)
    assert signoff.signoff_digest(data) == ethers["digest"]
    raw = signoff.parse_signature(ethers["signature"])
    assert signoff.recover_signer(data, raw).signer == Account.from_key(key).address
    # And a signature made here is the one ethers makes (RFC 6979 nonces: deterministic).
    ours = Account.from_key(key).sign_message(signoff.signable_message(data)).signature.to_0x_hex()
    assert ours == ethers["signature"]


def test_every_field_of_the_typed_data_changes_the_digest():
    digests = {
        signoff.signoff_digest(typed()),
        signoff.signoff_digest(typed(chain_id=1)),
        signoff.signoff_digest(typed(recovery_executor="0x70997970C51812dc3A010C7d01b50e0d17dc79C8")),
        signoff.signoff_digest(typed(incident_id=8)),
        signoff.signoff_digest(typed(version=3)),
        signoff.signoff_digest(typed(content_hash="0x" + "00" * 32)),
    }
    assert len(digests) == 6


def test_a_signature_over_other_typed_data_recovers_to_another_address():
    key = devkeys.COMMITTEE_KEYS[0]
    other_chain = Account.from_key(key).sign_message(signoff.signable_message(typed(chain_id=1))).signature
    recovered = signoff.recover_signer(typed(), bytes(other_chain))
    assert recovered.signer is not None
    assert recovered.signer != Account.from_key(key).address


def test_v_as_0_or_1_is_read_as_27_or_28_and_a_high_s_is_refused():
    data = typed()
    account = Account.from_key(devkeys.COMMITTEE_KEYS[2])
    raw = bytes(account.sign_message(signoff.signable_message(data)).signature)
    assert signoff.recover_signer(data, raw[:64] + bytes([raw[64] - 27])).signer == account.address
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = raw[:32] + (n - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big") + bytes([55 - raw[64]])
    refused = signoff.recover_signer(data, high_s)
    assert refused.signer is None and "upper half" in refused.problem


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "0x-prefixed"),
        ("abcd", "0x-prefixed"),
        ("0x", "empty"),
        ("0xabc", "not hex"),
        ("0xzz", "not hex"),
        (None, "0x-prefixed"),
    ],
)
def test_malformed_signatures_are_refused_with_the_reason(text, says):
    with pytest.raises(signoff.SignatureFormatError, match=says):
        signoff.parse_signature(text)


@pytest.mark.parametrize(
    ("raw", "says"),
    [(b"\x01" * 64, "65 bytes"), (b"\x01" * 64 + b"\x05", "v is 5"), (b"\x00" * 64 + b"\x1b", "not a point")],
)
def test_bytes_that_are_no_ecdsa_signature_name_no_signer(raw, says):
    recovered = signoff.recover_signer(typed(), raw)
    assert recovered.signer is None
    assert says in recovered.problem
