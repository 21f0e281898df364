"""Lifeboat's Snapshot messages against Snapshot's own client, @snapshot-labs/snapshot.js, through Node.

The types are captured from the client's own ``proposal()`` and ``vote()`` (what it hands a wallet), so
a snapshot.js upgrade that changes them fails here; digests come from its ``utils.getHash`` and
signatures from ethers v5, the library it signs with.
"""

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain import devkeys
from governance import snapshot_messages as messages

ORACLE = Path(__file__).resolve().parents[1] / "js" / "snapshot_oracle.mjs"
KEY = devkeys.COMMITTEE_KEY
AUTHOR = Account.from_key(KEY).address
PROPOSAL_ID = "0x" + "5c" * 32


def snapshot_js(payload: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        ["node", str(ORACLE)], input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _proposal(**overrides: Any) -> dict[str, Any]:
    fields = {
        "author": AUTHOR.lower(),  # snapshot.js makes `from` EIP-55; so does Lifeboat
        "space": "lifeboat-demo.eth",
        "timestamp": 1_764_547_200,
        "title": "Recovery proposal: demo vault drained (plan version 1)",
        "body": "# What happened\n\nThe vault's redeem() skipped — ünïcode ✓ — the allowance check.\n\n"
        "content-hash: 0x" + "ab" * 32 + "\n",
        "start": 1_764_547_200,
        "end": 1_764_547_200 + 3 * 86_400,
        "snapshot": 19_000_001,
        "labels": ("recovery",),
    }
    return messages.proposal_message(**(fields | overrides))


def _vote(**overrides: Any) -> dict[str, Any]:
    fields = {
        "voter": AUTHOR,
        "space": "lifeboat-demo.eth",
        "proposal": PROPOSAL_ID,
        "choice": messages.AGAINST,
        "timestamp": 1_764_550_000,
        "reason": "not like this: 🚫",
    }
    return messages.vote_message(**(fields | overrides))


def test_the_types_and_domain_are_what_snapshot_js_hands_the_wallet():
    captured = snapshot_js({"op": "capture", "proposal": _proposal(), "vote": _vote()})
    assert captured["proposal"]["domain"] == messages.DOMAIN
    assert captured["proposal"]["types"] == messages.PROPOSAL_TYPES
    assert captured["vote"]["types"] == messages.VOTE_TYPES
    assert captured["vote"]["domain"] == messages.DOMAIN
    # The client fills what the message leaves out exactly as Lifeboat writes it.
    assert captured["proposal"]["message"] == _proposal()
    assert captured["vote"]["message"] == _vote()


@pytest.mark.parametrize(
    "data",
    [
        messages.message_data(messages.PROPOSAL_TYPES, _proposal()),
        messages.message_data(messages.PROPOSAL_TYPES, _proposal(body="x" * 20_000, labels=(), discussion="")),
        messages.message_data(messages.VOTE_TYPES, _vote()),
        messages.message_data(messages.VOTE_TYPES, _vote(choice=messages.ABSTAIN, reason="", metadata="{}")),
    ],
    ids=["proposal", "long-proposal", "vote", "abstain"],
)
def test_digests_and_signatures_equal_snapshot_js(data):
    oracle = snapshot_js({"op": "hash", "data": data, "privateKey": KEY})
    assert messages.message_id(data) == oracle["digest"]
    envelope = messages.sign(Account.from_key(KEY), data)
    assert envelope["sig"] == oracle["signature"]
    assert envelope["address"] == AUTHOR
    assert messages.recover(envelope["data"], envelope["sig"]) == AUTHOR
    assert snapshot_js({"op": "verify", "address": AUTHOR, "sig": envelope["sig"], "data": envelope["data"]})["valid"]


def test_the_envelope_is_what_the_sequencer_takes():
    envelope = messages.sign(Account.from_key(KEY), messages.message_data(messages.VOTE_TYPES, _vote()))
    assert set(envelope) == {"address", "sig", "data"}
    assert set(envelope["data"]) == {"domain", "types", "message"}
    assert "EIP712Domain" not in envelope["data"]["types"]
    assert messages.primary_type(envelope["data"]["types"]) == "Vote"


def test_a_changed_field_changes_the_digest():
    base = messages.message_id(messages.message_data(messages.VOTE_TYPES, _vote()))
    assert messages.message_id(messages.message_data(messages.VOTE_TYPES, _vote(choice=messages.FOR))) != base


def test_the_types_hash_is_sha256_of_the_json_the_client_sends():
    # JSON.stringify of the types object: no spaces, keys in order.
    text = json.dumps(messages.VOTE_TYPES, separators=(",", ":"))
    assert text.startswith('{"Vote":[{"name":"from","type":"string"}')
    assert messages.types_hash(messages.VOTE_TYPES) == hashlib.sha256(text.encode()).hexdigest()
