"""The sequencer: ``POST /`` takes a signed envelope ``{address, sig, data: {domain, types, message}}``.

Checks run in the real sequencer's order and refuse with its words (HTTP 400,
``{"error": "client_error", "error_description": ...}``): envelope shape, size, timestamp,
domain, types, space, alias, signature (ECDSA, else EIP-1271 on the node), duplicate, then the
proposal's or vote's own checks. One deliberate difference: a domain with any key besides
``name`` and ``version`` (a ``chainId``, say) is refused as "wrong domain"; the real one only
compares the two.
"""

import json
import re
import sqlite3
from typing import Any

import eth_keys.exceptions
from eth_account.messages import encode_defunct
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import is_address, to_checksum_address

from snapshothub.evm import NodeUnavailable, as_float
from snapshothub.hub import Hub, cid, refresh_scores, valid_choice
from snapshothub.store import dumps
from snapshothub.typesets import DOMAIN_NAME, DOMAIN_VERSION, KNOWN_TYPES, digest, types_hash

MAX_MESSAGE_CHARS = 100_000  # JSON.stringify(body).length > 1e5: "too large message"
TIMESTAMP_AHEAD_SECONDS = 300
TIMESTAMP_BEHIND_SECONDS = 60 * 60 * 24 * 6
MAX_METADATA_CHARS = 2000
PROPOSAL_TYPES = ("single-choice", "approval", "ranked-choice", "quadratic", "copeland", "weighted", "custom", "basic")
_LABEL = re.compile(r"^[a-zA-Z0-9]+$")


class Refused(Exception):
    """A message the sequencer refuses: ``description`` is its reason, ``status`` the HTTP status."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status

    def answer(self) -> dict[str, str]:
        return {"error": "client_error" if self.status < 500 else "server_error", "error_description": self.description}


def js_length(text: str) -> int:
    """A string's ``.length`` in JavaScript (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_envelope(body: Any) -> None:
    """The envelope schema of the sequencer (``helpers/envelope.json``)."""
    ok = (
        isinstance(body, dict)
        and set(body) <= {"address", "data", "sig"}
        and {"address", "data", "sig"} <= set(body)
        and isinstance(body["address"], str)
        and is_address(body["address"])
        and isinstance(body["sig"], str | list)
        and isinstance(body["data"], dict)
        and set(body["data"]) <= {"domain", "message", "types", "primaryType"}
        and {"domain", "message", "types"} <= set(body["data"])
    )
    if ok:
        data = body["data"]
        domain, message = data["domain"], data["message"]
        ok = (
            isinstance(domain, dict)
            and isinstance(domain.get("name"), str)
            and isinstance(domain.get("version"), str)
            and isinstance(data["types"], dict)
            and isinstance(data.get("primaryType", ""), str)
            and isinstance(message, dict)
            and isinstance(message.get("from"), str)
            and is_address(message["from"])
            and _is_number(message.get("timestamp"))
            and (
                "space" not in message
                or (isinstance(message["space"], str) and re.fullmatch(r"[^ ]+", message["space"]))
            )
        )
    if not ok:
        raise Refused("wrong envelope format")


def recover(message_digest: bytes, sig: str) -> str | None:
    """The address whose ECDSA signature ``sig`` (65 bytes, v 0/1 or 27/28) is over the digest; None if malformed."""
    try:
        raw = bytes.fromhex(sig.removeprefix("0x"))
        if len(raw) != 65:
            return None
        v = raw[64] - 27 if raw[64] >= 27 else raw[64]
        public_key = keys.Signature(raw[:64] + bytes([v])).recover_public_key_from_msg_hash(message_digest)
    except (ValueError, BadSignature, eth_keys.exceptions.ValidationError):
        return None
    return public_key.to_checksum_address()


def _check_signature(hub: Hub, address: str, sig: Any, message_digest: bytes | None) -> None:
    if isinstance(sig, str) and message_digest is not None:
        if (recover(message_digest, sig) or "").lower() == address.lower():
            return
        try:
            if hub.evm.eip1271_valid(address, message_digest, bytes.fromhex(sig.removeprefix("0x"))):
                return
        except ValueError:
            pass
    raise Refused("signature validation failed")


def ingest(hub: Hub, body: Any) -> dict[str, Any]:
    """Check and store one envelope; the real sequencer's success answer, or ``Refused``.

    ``NodeUnavailable`` (the node is down) is answered by the server as a 500.
    """
    _check_envelope(body)
    if js_length(json.dumps(body, separators=(",", ":"), ensure_ascii=False)) > MAX_MESSAGE_CHARS:
        raise Refused("too large message")
    data = body["data"]
    domain, message, types = data["domain"], data["message"], data["types"]
    now = hub.clock()
    if message["timestamp"] > round(now + TIMESTAMP_AHEAD_SECONDS) or message["timestamp"] < round(
        now - TIMESTAMP_BEHIND_SECONDS
    ):
        raise Refused("wrong timestamp")
    if isinstance(message.get("proposal"), str) and " " in message["proposal"]:
        raise Refused("proposal cannot contain whitespace")
    if (
        domain.get("name") != DOMAIN_NAME
        or domain.get("version") != DOMAIN_VERSION
        or set(domain) != {"name", "version"}
    ):
        raise Refused("wrong domain")
    types = {name: fields for name, fields in types.items() if name != "EIP712Domain"}
    kind = KNOWN_TYPES.get(types_hash(types))
    if kind is None:
        raise Refused("wrong types")
    space = hub.spaces.get(message.get("space") or "")
    if space is None:
        raise Refused("unknown space")
    if body["address"] != message["from"]:
        raise Refused("wrong alias")
    try:
        message_digest: bytes | None = digest(domain, types, message)
    except (ValueError, TypeError, KeyError, OverflowError):
        message_digest = None
    _check_signature(hub, body["address"], body["sig"], message_digest)
    assert message_digest is not None
    message_id = "0x" + message_digest.hex()
    signature = ",".join(body["sig"]) if isinstance(body["sig"], list) else body["sig"]
    if hub.store.read("SELECT 1 FROM messages WHERE id = ? OR sig = ? LIMIT 1", (message_id, signature)):
        raise Refused("duplicate message")
    if kind == "proposal":
        context = _verify_proposal(hub, space, body["address"], message)
    else:
        if isinstance(message.get("metadata"), str) and js_length(message["metadata"]) > MAX_METADATA_CHARS:
            raise Refused("too large metadata")
        if kind == "vote-string":
            raise Refused("invalid choice")
        context = _verify_vote(hub, space, body["address"], message)
    ipfs = cid({"address": body["address"], "sig": body["sig"], "hash": message_id, "data": data})
    receipt = "0x" + bytes(hub.relayer.sign_message(encode_defunct(text=signature)).signature).hex()
    record = {
        "id": message_id,
        "ipfs": ipfs,
        "address": body["address"],
        "version": DOMAIN_VERSION,
        "timestamp": int(message["timestamp"]),
        "space": space["id"],
        "type": "proposal" if kind == "proposal" else "vote",
        "sig": signature,
        "receipt": receipt,
    }
    try:
        with hub.store.write() as db:
            if kind == "proposal":
                _write_proposal(db, space, record, message)
            else:
                _write_vote(hub, db, space, record, message, context)
            db.execute(
                "INSERT INTO messages (id, ipfs, address, version, timestamp, space, type, sig, receipt) "
                "VALUES (:id, :ipfs, :address, :version, :timestamp, :space, :type, :sig, :receipt)",
                record,
            )
    except sqlite3.IntegrityError:
        raise Refused("duplicate message") from None
    return {"id": message_id, "ipfs": ipfs, "relayer": {"address": hub.relayer.address, "receipt": receipt}}


def _verify_proposal(hub: Hub, space: dict[str, Any], author: str, message: dict[str, Any]) -> None:
    """The proposal writer's checks, in its order and words."""
    created = int(message["timestamp"])
    payload_ok = (
        isinstance(message.get("title"), str)
        and 1 <= js_length(message["title"]) <= 256
        and isinstance(message.get("body"), str)
        and isinstance(message.get("discussion", ""), str)
        and js_length(message.get("discussion", "")) <= 256
        and isinstance(message.get("choices"), list)
        and len(message["choices"]) >= 1
        and all(isinstance(c, str) and 1 <= js_length(c) <= 256 for c in message["choices"])
        and isinstance(message.get("labels", []), list)
        and len(message.get("labels", [])) <= 10
        and len(set(map(str, message.get("labels", [])))) == len(message.get("labels", []))
        and all(
            isinstance(label, str) and _LABEL.match(label) and len(label) <= 8 for label in message.get("labels", [])
        )
        and message.get("type") in PROPOSAL_TYPES
        and _is_number(message.get("snapshot"))
        and all(_is_number(message.get(k)) and 1_000_000_000 <= message[k] <= 2_000_000_000 for k in ("start", "end"))
        and isinstance(message.get("app", ""), str)
        and js_length(message.get("app", "")) <= 24
        and message.get("privacy", "") in ("", "shutter")
    )
    if not payload_ok:
        raise Refused("wrong proposal format")
    if message["end"] <= round(hub.clock()):
        raise Refused("proposal end date must be in the future")
    if message["type"] == "basic" and len(message["choices"]) not in (2, 3):
        raise Refused("wrong choices for basic type voting")
    voting = space["voting"]
    if voting["delay"] and message["start"] != created + voting["delay"]:
        raise Refused("invalid voting delay")
    if voting["period"] and message["end"] - message["start"] != voting["period"]:
        raise Refused("invalid voting period")
    if voting["type"] and message["type"] != voting["type"]:
        raise Refused("invalid voting type")
    members = {a.lower() for a in (*space["members"], *space["admins"], *space["moderators"])}
    authorized = author.lower() in members
    if space["filters"]["onlyMembers"] and not authorized:
        raise Refused("only space authors can propose")
    if not authorized and space["filters"]["minScore"]:
        try:
            powers, _ = hub.evm.voting_power(space["strategies"], author, None)
        except NodeUnavailable:
            raise Refused("failed to check validation") from None
        if sum(as_float(powers, space["strategies"])) < space["filters"]["minScore"]:
            raise Refused("validation failed")
    try:
        if not hub.evm.block_exists(int(message["snapshot"])):
            raise Refused("invalid snapshot block")
    except NodeUnavailable:
        raise Refused("unable to fetch block") from None
    if hub.body_limit is not None and js_length(message["body"]) > hub.body_limit:
        raise Refused(f"proposal body length can not exceed {hub.body_limit} characters")


def _verify_vote(hub: Hub, space: dict[str, Any], voter: str, message: dict[str, Any]) -> dict[str, Any]:
    """The vote writer's checks, in its order and words; the proposal and the voter's power."""
    if (
        not isinstance(message.get("proposal"), str)
        or "choice" not in message
        or js_length(str(message.get("reason", ""))) > 5000
        or js_length(str(message.get("app", ""))) > 24
    ):
        raise Refused("wrong vote format")
    rows = hub.store.read("SELECT * FROM proposals WHERE id = ? AND space = ?", (message["proposal"], space["id"]))
    if not rows:
        raise Refused("unknown proposal")
    proposal = rows[0]
    now = round(hub.clock())
    created = int(message["timestamp"])
    if created > proposal["end"] or proposal["start"] > created or now > proposal["end"] or proposal["start"] > now:
        raise Refused("not in voting window")
    if not valid_choice(proposal["type"], message["choice"], json.loads(proposal["choices"])):
        raise Refused("invalid choice")
    strategies = json.loads(proposal["strategies"])
    try:
        powers, final = hub.evm.voting_power(strategies, voter, proposal["snapshot"])
    except NodeUnavailable:
        raise Refused("failed to check voting power") from None
    if sum(powers) == 0:
        raise Refused("no voting power")
    return {"proposal": proposal, "powers": powers, "final": final, "strategies": strategies}


def _write_proposal(db: Any, space: dict[str, Any], record: dict[str, Any], message: dict[str, Any]) -> None:
    privacy = space["voting"]["privacy"] or "any"
    db.execute(
        "INSERT INTO proposals (id, ipfs, author, created, space, network, symbol, type, strategies, title, body, "
        'discussion, choices, labels, start, "end", quorum, quorum_type, privacy, snapshot, app, plugins) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record["id"],
            record["ipfs"],
            record["address"],
            record["timestamp"],
            space["id"],
            space["network"],
            space["symbol"],
            message.get("type") or "single-choice",
            dumps(space["strategies"]),
            message["title"],
            message["body"],
            message.get("discussion") or "",
            dumps(message["choices"]),
            dumps(message.get("labels") or []),
            int(message["start"]),
            int(message["end"]),
            float(space["voting"]["quorum"] or 0),
            space["voting"]["quorumType"] if space["voting"]["quorum"] else "",
            message.get("privacy", "") if privacy == "any" else privacy,
            int(message["snapshot"]),
            message.get("app") or "",
            dumps(_json_or(message.get("plugins"), {})),
        ),
    )


def _json_or(text: Any, fallback: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return fallback


def _write_vote(
    hub: Hub, db: Any, space: dict[str, Any], record: dict[str, Any], message: dict[str, Any], context: dict[str, Any]
) -> None:
    """Insert the vote, or replace the voter's earlier one (a later one stays: the real writer's rule)."""
    voter = to_checksum_address(record["address"])
    proposal_id = context["proposal"]["id"]
    created = record["timestamp"]
    earlier = db.execute(
        "SELECT id, created FROM votes WHERE voter = ? AND proposal = ?", (voter, proposal_id)
    ).fetchone()
    if earlier is not None:
        if earlier["created"] > created:
            raise Refused("already voted at later time")
        if earlier["created"] == created and record["id"] <= earlier["id"]:
            raise Refused("already voted same time with lower index")
        db.execute("DELETE FROM votes WHERE id = ?", (earlier["id"],))
    powers, strategies = context["powers"], context["strategies"]
    db.execute(
        "INSERT INTO votes (id, ipfs, voter, created, space, proposal, choice, metadata, reason, app, vp, vp_raw, "
        "vp_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record["id"],
            record["ipfs"],
            voter,
            created,
            space["id"],
            proposal_id,
            dumps(message["choice"]),
            dumps(_json_or(message.get("metadata"), {})),
            message.get("reason") or "",
            message.get("app") or "",
            sum(as_float(powers, strategies)),
            dumps([str(p) for p in powers]),
            "final" if context["final"] else "pending",
        ),
    )
    refresh_scores(hub, db, proposal_id, final=False)
