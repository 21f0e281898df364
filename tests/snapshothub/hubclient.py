"""Talking to a hub process in the tests: signed messages (built with governance.snapshot_messages) and GraphQL."""

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount

from governance import snapshot_messages as sm
from snapshothub.process import HubProcess
from tests.snapshot_hub import SPACE_ID

VOTE_SCRIPT = Path(__file__).resolve().parent.parent / "js" / "snapshot_vote.mjs"


def post(hub: HubProcess, envelope: dict[str, Any]) -> requests.Response:
    return requests.post(hub.sequencer_url, json=envelope, timeout=30)


def refusal(reply: requests.Response) -> str:
    """The sequencer's reason for a refused message (asserting the real answer's shape and status)."""
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["error"] == "client_error"
    return body["error_description"]


def gql(hub: HubProcess, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = requests.post(hub.graphql_url, json={"query": query, "variables": variables or {}}, timeout=30)
    assert reply.status_code in (200, 400), reply.text
    return reply.json()


def proposal_envelope(
    account: LocalAccount,
    *,
    snapshot: int,
    space: str = SPACE_ID,
    delay: int = 0,
    period: int = 6,
    timestamp: int | None = None,
    body: str = "content-hash: 0x00\n\nA recovery plan.",
) -> dict[str, Any]:
    created = int(time.time()) if timestamp is None else timestamp
    message = sm.proposal_message(
        author=account.address,
        space=space,
        timestamp=created,
        title="Restitute the vault",
        body=body,
        start=created + delay,
        end=created + delay + period,
        snapshot=snapshot,
    )
    return sm.sign(account, sm.message_data(sm.PROPOSAL_TYPES, message))


def vote_envelope(
    account: LocalAccount, proposal: str, choice: int, *, space: str = SPACE_ID, timestamp: int | None = None
) -> dict[str, Any]:
    message = sm.vote_message(
        voter=account.address,
        space=space,
        proposal=proposal,
        choice=choice,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    return sm.sign(account, sm.message_data(sm.VOTE_TYPES, message))


def accepted(reply: requests.Response) -> str:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["id"].startswith("0x") and body["ipfs"] and body["relayer"]["receipt"].startswith("0x")
    return body["id"]


def snapshot_js_vote(hub: HubProcess, key: str, proposal: str, choice: int, space: str = SPACE_ID) -> dict[str, Any]:
    payload = {
        "sequencerUrl": hub.sequencer_url,
        "privateKey": key,
        "space": space,
        "proposal": proposal,
        "choice": choice,
        "reason": "signed by snapshot.js",
        "app": "snapshot",
    }
    done = subprocess.run(
        ["node", str(VOTE_SCRIPT)], input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
