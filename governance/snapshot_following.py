"""Following a Snapshot proposal: the hub's state and scores, and every vote checked and recounted from the chain.

Votes are read by a cursor on their ``created`` second, never by ``skip`` over the whole
proposal (the hub refuses ``skip`` beyond 5,000): each page asks for ``created_gte: cursor``,
ordered by ``created`` ascending, 1,000 at a time; ids already seen at the cursor's second are
dropped, and ``skip`` is used only to step through one second that alone fills whole pages.
Each page's signatures come from the hub's ``messages(where: {id_in})``, 100 ids a query
(the hub's limit on ``id_in``).

Each vote is checked before it counts: the Vote message rebuilt from the hub's fields must
have the vote's id as its EIP-712 digest, and its signature must recover to the voter (or,
for a contract voter, its ``isValidSignature`` must accept it). Each new voter's power is
``getPastVotes(voter, snapshot)`` of the space's token, read in JSON-RPC batches: Lifeboat's
tally is exact base units, the hub's float scores only a cross-check. A vote that fails a
check is not stored, and is named in the proposal's ``error``.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import coincurve
import requests
from django.db import transaction
from django.utils import timezone
from eth_utils import keccak, to_checksum_address
from sha3 import keccak_256
from web3 import Web3
from web3.exceptions import Web3RPCError

from chain.errors import RpcUnavailable
from chain.redaction import redact, redact_url
from chain.wallets import ask_wallet
from governance.models import SnapshotOutcome, SnapshotProposal, SnapshotProposalStatus, SnapshotVote
from governance.snapshot_client import graphql
from governance.snapshot_errors import SnapshotHubError, SnapshotProposalNotFollowable
from governance.snapshot_messages import ABSTAIN, AGAINST, DOMAIN, FOR, VOTE_TYPES
from governance.snapshot_selectors import get_snapshot_proposal
from governance.venues import connect_chain
from recovery.exceptions import ChainUnavailable

PAGE = 1000  # the hub's largest ``first``
MAX_SKIP = 5000  # the hub refuses a larger ``skip``
POWER_BATCH = 250  # getPastVotes calls per JSON-RPC batch
IDS_PER_QUERY = 100  # the hub refuses a longer ``id_in``
SCORE_TOLERANCE = 1e-9  # relative: the hub's scores are floats of the exact sums
MAX_ERRORS_KEPT = 20

PROPOSAL_QUERY = """
query Proposal($id: String!) {
  proposal(id: $id) {
    id state choices start end snapshot scores scores_total scores_state quorum votes
  }
}
"""

VOTES_QUERY = """
query Votes($proposal: String!, $cursor: Int!, $skip: Int!, $first: Int!) {
  votes(
    first: $first
    skip: $skip
    where: {proposal: $proposal, created_gte: $cursor}
    orderBy: "created"
    orderDirection: asc
  ) {
    id voter created choice reason app metadata vp ipfs
    space { id }
    proposal { id }
  }
}
"""

MESSAGES_QUERY = """
query Messages($ids: [String]!, $first: Int!) {
  messages(first: $first, where: {id_in: $ids}) { id address sig }
}
"""

_GET_PAST_VOTES = keccak(text="getPastVotes(address,uint256)")[:4]
_GET_VOTES = keccak(text="getVotes(address)")[:4]


def _type_hash(types: dict[str, list[dict[str, str]]], name: str) -> bytes:
    return keccak(text=f"{name}({','.join(f['type'] + ' ' + f['name'] for f in types[name])})")


_DOMAIN_SEPARATOR = keccak(
    keccak(text="EIP712Domain(string name,string version)")
    + keccak(text=DOMAIN["name"])
    + keccak(text=DOMAIN["version"])
)
_VOTE_TYPE_HASH = _type_hash(VOTE_TYPES, "Vote")
assert [f["type"] for f in VOTE_TYPES["Vote"]] == [
    "string",
    "string",
    "uint64",
    "string",
    "uint32",
    "string",
    "string",
    "string",
], VOTE_TYPES


def _keccak(data: bytes) -> bytes:
    return keccak_256(data).digest()


def checksum_address(address: str) -> str:
    """EIP-55 of a ``0x``-hex address (``ValueError`` unless 20 bytes of hex); ``to_checksum_address``'s answer, faster.

    Following checks every vote of a proposal (tens of thousands): eth-utils' keccak and checksum
    cost most of the time, safe-pysha3's keccak a fraction of it.
    """
    if not isinstance(address, str) or len(address) != 42 or address[:2] not in ("0x", "0X"):
        raise ValueError(f"{address!r} is not a 0x-hex address")
    lower = address[2:].lower()
    if len(bytes.fromhex(lower)) != 20:
        raise ValueError(f"{address!r} is not a 0x-hex address")
    hashed = keccak_256(lower.encode()).hexdigest()
    return "0x" + "".join(c.upper() if hashed[i] in "89abcdef" else c for i, c in enumerate(lower))


def vote_digest(message: dict[str, Any]) -> bytes:
    """The EIP-712 digest of a single-choice Vote message (equal to ``snapshot_messages.digest``, ~20x faster)."""
    struct = _keccak(
        _VOTE_TYPE_HASH
        + _keccak(message["from"].encode())
        + _keccak(message["space"].encode())
        + int(message["timestamp"]).to_bytes(32, "big")
        + _keccak(message["proposal"].encode())
        + int(message["choice"]).to_bytes(32, "big")
        + _keccak(message["reason"].encode())
        + _keccak(message["app"].encode())
        + _keccak(message["metadata"].encode())
    )
    return _keccak(b"\x19\x01" + _DOMAIN_SEPARATOR + struct)


def recover_address(digest: bytes, signature: bytes) -> str | None:
    """The EIP-55 address whose 65-byte ECDSA signature (v 27/28 or 0/1) is over ``digest``; None if none."""
    if len(signature) != 65:
        return None
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        return None
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except Exception:  # coincurve raises a plain Exception for a signature that recovers nothing
        return None
    return checksum_address("0x" + _keccak(public.format(compressed=False)[1:])[-20:].hex())


@dataclass(frozen=True, slots=True)
class _HubVote:
    vote_id: str
    voter: str
    created: int
    choice: Any
    reason: str
    app: str
    metadata: str
    vp: str
    ipfs: str
    space: str
    proposal: str


def _metadata_text(metadata: Any) -> str:
    """The signed ``metadata`` string back from the hub's (parsed) value, as ``JSON.stringify`` writes it."""
    if isinstance(metadata, str):
        return metadata
    return json.dumps(metadata if metadata is not None else {}, separators=(",", ":"), ensure_ascii=False)


def _hub_vote(raw: dict[str, Any]) -> _HubVote:
    return _HubVote(
        vote_id=str(raw["id"]),
        voter=str(raw["voter"]),
        created=int(raw["created"]),
        choice=raw.get("choice"),
        reason=str(raw.get("reason") or ""),
        app=str(raw.get("app") or ""),
        metadata=_metadata_text(raw.get("metadata")),
        vp=str(raw.get("vp") if raw.get("vp") is not None else ""),
        ipfs=str(raw.get("ipfs") or ""),
        space=str((raw.get("space") or {}).get("id") or ""),
        proposal=str((raw.get("proposal") or {}).get("id") or ""),
    )


class _Follow:
    """One follow's reads: the hub (counted), the chain, and what was refused along the way."""

    def __init__(self, row: SnapshotProposal, w3: Web3, rpc_url: str) -> None:
        self.row = row
        self.venue = row.venue
        self.w3 = w3
        self.rpc_url = rpc_url
        self.counter: Counter[str] = Counter()
        self.votes_read = 0
        self.refused: dict[str, str] = {}

    def query(self, query: str, variables: dict[str, Any]) -> dict:
        return graphql(self.venue.hub_url, query, variables, counter=self.counter)

    def votes_page(self, cursor: int, skip: int) -> list[_HubVote]:
        data = self.query(
            VOTES_QUERY, {"proposal": self.row.proposal_id, "cursor": cursor, "skip": skip, "first": PAGE}
        )
        page = [_hub_vote(v) for v in data.get("votes") or []]
        self.votes_read += len(page)
        return page

    def signatures(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            data = self.query(MESSAGES_QUERY, {"ids": chunk, "first": len(chunk)})
            for message in data.get("messages") or []:
                found[str(message["id"]).lower()] = (str(message.get("address") or ""), str(message.get("sig") or ""))
        return found

    def check(self, vote: _HubVote, signed_by: tuple[str, str] | None) -> str | None:
        """Why ``vote`` does not count (None when it does)."""
        if vote.proposal.lower() != self.row.proposal_id.lower() or vote.space != self.venue.space:
            return "it belongs to another proposal or space"
        if (
            not isinstance(vote.choice, int)
            or isinstance(vote.choice, bool)
            or vote.choice not in (FOR, AGAINST, ABSTAIN)
        ):
            return f"its choice {vote.choice!r} is not 1, 2 or 3"
        try:
            message = {
                "from": checksum_address(vote.voter),
                "space": vote.space,
                "timestamp": vote.created,
                "proposal": vote.proposal,
                "choice": vote.choice,
                "reason": vote.reason,
                "app": vote.app,
                "metadata": vote.metadata,
            }
        except ValueError:
            return f"its voter {vote.voter!r} is not an address"
        digest = vote_digest(message)
        if "0x" + digest.hex() != vote.vote_id.lower():
            return "the Vote message rebuilt from its fields does not hash to its id"
        if signed_by is None:
            return "the hub has no signed message with its id"
        _, sig = signed_by
        try:
            signature = bytes.fromhex(sig.removeprefix("0x"))
        except ValueError:
            return "its signature is not hex"
        if recover_address(digest, signature) == message["from"]:
            return None
        try:
            answer = ask_wallet(self.w3, message["from"], digest=digest, signature=signature, block=(self.head, ""))
        except RpcUnavailable as error:
            raise ChainUnavailable(redact(str(error), secrets=[self.rpc_url])) from None
        return None if answer.valid else f"its signature is not the voter's (EIP-1271 answer {answer.answer})"

    @property
    def head(self) -> int:
        if not hasattr(self, "_head"):
            self._head = int(self.w3.eth.block_number)
        return self._head

    def powers(self, voters: list[str]) -> dict[str, int]:
        """Each voter's exact ``getPastVotes(voter, snapshot)`` (``getVotes`` at the snapshot while it is the head)."""
        token = to_checksum_address(self.venue.token)
        snapshot = int(self.row.snapshot)
        past = snapshot < self.head
        out: dict[str, int] = {}
        for start in range(0, len(voters), POWER_BATCH):
            chunk = voters[start : start + POWER_BATCH]
            calls = []
            for voter in chunk:
                word = bytes(12) + bytes.fromhex(voter[2:])
                if past:
                    data = _GET_PAST_VOTES + word + snapshot.to_bytes(32, "big")
                    calls.append(("eth_call", [{"to": token, "data": "0x" + data.hex()}, "latest"]))
                else:
                    data = _GET_VOTES + word
                    calls.append(("eth_call", [{"to": token, "data": "0x" + data.hex()}, hex(snapshot)]))
            try:
                answers = self.w3.provider.make_batch_request(calls)
            except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
                raise ChainUnavailable(
                    f"the node at {redact_url(self.rpc_url)} failed reading voting power: {type(error).__name__}"
                ) from None
            if not isinstance(answers, list) or len(answers) != len(chunk):
                raise ChainUnavailable(
                    f"the node at {redact_url(self.rpc_url)} answered a batch of {len(chunk)} getPastVotes calls with "
                    f"{len(answers) if isinstance(answers, list) else 'no list'}"
                )
            by_id = sorted(answers, key=lambda a: int(a.get("id", 0))) if all("id" in a for a in answers) else answers
            for voter, answer in zip(chunk, by_id, strict=True):
                if "error" in answer:
                    message = str(answer["error"].get("message", ""))
                    if "revert" not in message.lower():
                        raise ChainUnavailable(
                            f"the node at {redact_url(self.rpc_url)} failed reading getPastVotes of {voter}: {message}"
                        )
                    out[voter] = 0  # a revert reads no power, as the hub's strategy reads it
                    continue
                result = answer.get("result") or "0x"
                out[voter] = int(result, 16) if len(result) > 2 else 0
        return out


def follow_snapshot_proposal(
    *, snapshot_proposal_id: int, rpc_url: str, stats: dict[str, Any] | None = None
) -> SnapshotProposal:
    """Read the proposal's state, scores and new votes from the hub, store them, and decide its outcome.

    Reads only votes created at or after ``vote_cursor``; once the proposal is closed and final,
    the whole list once more if the hub counts other votes than Lifeboat stored. The outcome is
    set once the hub says the proposal is ``closed`` with ``final`` scores: *passed* when
    For > Against and For + Against + Abstain reach the venue's quorum (all in base units, from
    the chain), else *rejected*, with the reason in words. A difference from the hub's scores is recorded in ``error``.
    ``stats`` (when given) gets ``queries``, ``votes_read`` and ``seconds``.

    ``SnapshotProposalNotFound`` (404); ``SnapshotProposalNotFollowable`` (409) unless created
    on the hub; ``SnapshotHubError`` (502) when the hub does not know it;
    ``SnapshotUnavailable`` / ``ChainUnavailable`` (503); ``ChainMismatch`` (409).
    """
    began = time.perf_counter()
    row = get_snapshot_proposal(snapshot_proposal_id)
    if row.status != SnapshotProposalStatus.CREATED:
        raise SnapshotProposalNotFollowable(
            f"Snapshot proposal {row.pk} is {row.status}, not created on the hub: publish it again first",
            snapshot_proposal=row.pk,
            status=row.status,
        )
    venue = row.venue
    w3 = connect_chain(rpc_url=rpc_url, chain_id=venue.chain_id, subject=f"the Snapshot space {venue.space}")
    follow = _Follow(row, w3, rpc_url)
    hub = follow.query(PROPOSAL_QUERY, {"id": row.proposal_id}).get("proposal")
    if not hub:
        raise SnapshotHubError(
            f"the Snapshot hub at {redact_url(venue.hub_url)} does not know proposal {row.proposal_id} of space "
            f"{venue.space}, although it took it (was it deleted?)",
            snapshot_proposal=row.pk,
        )
    _read_votes(follow, cursor=row.vote_cursor)
    closing = not row.outcome and hub.get("state") == "closed" and hub.get("scores_state") == "final"
    if closing and SnapshotVote.objects.filter(proposal=row).count() != int(hub.get("votes") or 0):
        # Before the outcome, once: a vote signed with an earlier timestamp may have arrived behind the cursor.
        _read_votes(follow, cursor=0)
    row = _record(follow, hub)
    if stats is not None:
        stats["queries"] = stats.get("queries", 0) + sum(follow.counter.values())
        stats["votes_read"] = stats.get("votes_read", 0) + follow.votes_read
        stats["seconds"] = stats.get("seconds", 0.0) + (time.perf_counter() - began)
    return row


def _read_votes(follow: _Follow, *, cursor: int) -> None:
    """Page the hub's votes from ``cursor`` on and store what is new, page by page (the cursor with them)."""
    row = follow.row
    seen = set(SnapshotVote.objects.filter(proposal=row, created=cursor).values_list("vote_id", flat=True))
    skip = 0
    while True:
        if skip > MAX_SKIP:
            raise SnapshotHubError(
                f"more than {MAX_SKIP + PAGE} votes of proposal {row.proposal_id} share the second {cursor}: the hub's "
                "skip limit leaves no way to page through them",
                snapshot_proposal=row.pk,
            )
        page = follow.votes_page(cursor, skip)
        fresh = [v for v in page if v.vote_id not in seen]
        if fresh:
            _store_votes(follow, fresh)
        if not page:
            break
        last = page[-1].created
        # A full page within one second: step on through that second with skip; otherwise by the cursor.
        whole_second = len(page) == PAGE and page[0].created == last
        skip = ((skip if last == cursor else 0) + len(page)) if whole_second else 0
        if last != cursor:
            seen = set()
            cursor = last
        seen.update(v.vote_id for v in page if v.created == cursor)
        SnapshotProposal.objects.filter(pk=row.pk, vote_cursor__lt=cursor).update(vote_cursor=cursor)
        row.vote_cursor = max(row.vote_cursor, cursor)
        if len(page) < PAGE:
            break


def _store_votes(follow: _Follow, page: list[_HubVote]) -> None:
    row = follow.row
    known = dict(
        SnapshotVote.objects.filter(proposal=row, vote_id__in=[v.vote_id for v in page]).values_list(
            "vote_id", "hub_vp"
        )
    )
    # Stored already (a full re-read, or submitted through Lifeboat, which checked it): only the
    # hub's own voting power is new for a vote that came through Lifeboat.
    for vote in page:
        if vote.vote_id in known and not known[vote.vote_id] and vote.vp:
            SnapshotVote.objects.filter(proposal=row, vote_id=vote.vote_id).update(hub_vp=vote.vp[:100])
    page = [v for v in page if v.vote_id not in known]
    if not page:
        return
    signatures = follow.signatures([v.vote_id for v in page])
    good: list[tuple[_HubVote, str]] = []
    for vote in page:
        signed_by = signatures.get(vote.vote_id.lower())
        why = follow.check(vote, signed_by)
        if why is not None:
            follow.refused[vote.vote_id] = f"vote {vote.vote_id} by {vote.voter}: {why}"
            continue
        good.append((vote, signed_by[1] if signed_by else ""))
    if not good:
        return
    # A voter's latest vote wins, within the page and against what is stored.
    latest: dict[str, tuple[_HubVote, str]] = {}
    for vote, sig in good:
        voter = checksum_address(vote.voter)
        if voter not in latest or vote.created >= latest[voter][0].created:
            latest[voter] = (vote, sig)
    stored = {v.voter: v for v in SnapshotVote.objects.filter(proposal=row, voter__in=list(latest))}
    need_power = [voter for voter in latest if voter not in stored or stored[voter].vp is None]
    powers = follow.powers(need_power) if need_power else {}
    with transaction.atomic():
        # One writer per proposal at a time: a follow started elsewhere waits, then sees these rows.
        SnapshotProposal.objects.select_for_update().filter(pk=row.pk).first()
        stored = {v.voter: v for v in SnapshotVote.objects.filter(proposal=row, voter__in=list(latest))}
        created: list[SnapshotVote] = []
        for voter, (vote, sig) in latest.items():
            current = stored.get(voter)
            if current is not None and current.created > vote.created:
                continue
            fields = {
                "vote_id": vote.vote_id,
                "choice": vote.choice,
                "reason": vote.reason,
                "app": vote.app[:100],
                "created": vote.created,
                "sig": sig,
                "ipfs": vote.ipfs[:100],
                "hub_vp": vote.vp[:100],
            }
            if current is None:
                created.append(SnapshotVote(proposal=row, voter=voter, vp=powers[voter], **fields))
            else:
                for name, value in fields.items():
                    setattr(current, name, value)
                if current.vp is None:
                    current.vp = powers.get(voter)
                current.save()
        SnapshotVote.objects.bulk_create(created, batch_size=500)


def _record(follow: _Follow, hub: dict[str, Any]) -> SnapshotProposal:
    """Store the hub's answers, Lifeboat's tally, the cross-check and (once final) the outcome."""
    with transaction.atomic():
        row = SnapshotProposal.objects.select_for_update().select_related("venue").get(pk=follow.row.pk)
        tally = {FOR: 0, AGAINST: 0, ABSTAIN: 0}
        count = 0
        for choice, vp in SnapshotVote.objects.filter(proposal=row).values_list("choice", "vp"):
            count += 1
            if choice in tally:
                tally[choice] += int(vp or 0)
        row.state = str(hub.get("state") or "")
        row.scores = [str(s) for s in hub.get("scores") or []]
        row.scores_total = str(hub.get("scores_total") if hub.get("scores_total") is not None else "")
        row.scores_state = str(hub.get("scores_state") or "")
        row.hub_quorum = str(hub.get("quorum") if hub.get("quorum") is not None else "")
        row.votes_count = count
        row.for_votes, row.against_votes, row.abstain_votes = tally[FOR], tally[AGAINST], tally[ABSTAIN]
        problems = list(follow.refused.values())[:MAX_ERRORS_KEPT]
        if len(follow.refused) > MAX_ERRORS_KEPT:
            problems.append(f"... and {len(follow.refused) - MAX_ERRORS_KEPT} more votes refused")
        mismatch = _score_mismatch(row, tally)
        if mismatch:
            problems.append(mismatch)
        row.error = "\n".join(problems)
        if not row.outcome and row.state == "closed" and row.scores_state == "final":
            row.outcome, row.outcome_reason = _outcome(row, tally)
        row.followed_at = timezone.now()
        row.save()
    return row


def _score_mismatch(row: SnapshotProposal, tally: dict[int, int]) -> str:
    """A sentence when the hub's scores differ from Lifeboat's recount (beyond float rounding), else ''."""
    unit = Decimal(10) ** row.venue.token_decimals
    ours = [Decimal(tally[c]) / unit for c in (FOR, AGAINST, ABSTAIN)]
    theirs = []
    for score in row.scores:
        try:
            theirs.append(Decimal(score))
        except ArithmeticError:
            return f"the hub's scores {row.scores} are not numbers"
    theirs += [Decimal(0)] * (3 - len(theirs))
    for (name, choice), mine, hub in zip(
        (("For", FOR), ("Against", AGAINST), ("Abstain", ABSTAIN)), ours, theirs, strict=False
    ):
        scale = max(abs(mine), abs(hub), Decimal(1) / unit)
        if abs(mine - hub) > scale * Decimal(SCORE_TOLERANCE):
            return (
                f"the hub's score for {name} is {hub}, but the votes recounted from the chain give {mine} "
                f"({tally[choice]} base units)"
            )
    return ""


def _outcome(row: SnapshotProposal, tally: dict[int, int]) -> tuple[str, str]:
    """(passed|rejected, the reason in words) of a closed proposal with final scores."""
    quorum = int(row.venue.quorum)
    total = tally[FOR] + tally[AGAINST] + tally[ABSTAIN]
    if total < quorum:
        return SnapshotOutcome.REJECTED, (
            f"quorum not met: {total} base units voted (For, Against and Abstain), the space's quorum is {quorum}"
        )
    if tally[FOR] <= tally[AGAINST]:
        return SnapshotOutcome.REJECTED, f"For ({tally[FOR]}) did not exceed Against ({tally[AGAINST]})"
    return SnapshotOutcome.PASSED, (
        f"For ({tally[FOR]}) exceeded Against ({tally[AGAINST]}) and {total} base units voted, meeting the quorum of "
        f"{quorum}"
    )


def snapshot_proposal_summary(sp: SnapshotProposal, *, now: int | None = None) -> dict[str, Any]:
    """What the CLI and API show of a followed Snapshot proposal: state, time left, tally, quorum, outcome.

    Amounts are decimal strings of base units; ``quorum_progress`` is a fraction as a string
    (``"1"`` when the quorum is 0).
    """
    now = int(time.time()) if now is None else now
    venue = sp.venue
    quorum = int(venue.quorum)
    total = int(sp.for_votes) + int(sp.against_votes) + int(sp.abstain_votes)
    if sp.state == "pending" or (not sp.state and now < sp.start):
        phase, seconds_left = "pending", max(sp.start - now, 0)
    elif sp.state == "closed" or now >= sp.end:
        phase, seconds_left = "closed", 0
    else:
        phase, seconds_left = "active", max(sp.end - now, 0)
    progress = Decimal(1) if quorum == 0 else (Decimal(total) / Decimal(quorum))
    return {
        "id": sp.pk,
        "document": sp.document_id,
        "space": venue.space,
        "proposal_id": sp.proposal_id,
        "status": sp.status,
        "state": sp.state or phase,
        "start": sp.start,
        "end": sp.end,
        "seconds_left": seconds_left,
        "snapshot": sp.snapshot,
        "votes": sp.votes_count,
        "tally": {"for": str(sp.for_votes), "against": str(sp.against_votes), "abstain": str(sp.abstain_votes)},
        "total": str(total),
        "quorum": str(quorum),
        "quorum_met": total >= quorum,
        "quorum_progress": str(progress.quantize(Decimal("0.0001"))),
        "hub_scores": list(sp.scores),
        "scores_state": sp.scores_state,
        "outcome": sp.outcome,
        "outcome_reason": sp.outcome_reason,
        "error": sp.error,
        "followed_at": sp.followed_at.isoformat() if sp.followed_at else None,
    }
