"""Gasless votes: the typed data a holder signs, and relaying the signed ballot to the governor.

``ballot_typed_data`` gives the OpenZeppelin v5 ``Ballot`` (or ``ExtendedBallot``) for a
publication's proposal under the governor's own EIP-712 domain, with the voter's current nonce.
``relay_ballot`` checks a signed ballot against the chain and casts it with
``castVoteBySig``/``castVoteWithReasonAndParamsBySig`` from the relayer key.

Every check runs before anything is stored or sent, against one head block: the nonce equals
``nonces(voter)``; the signature is the voter's over exactly this ballot (ECDSA, or EIP-1271 for
a contract voter), and when it is not, what it was signed for (a v4-style ballot, another
support, the other ballot type, another chain, governor or proposal); the voter has not voted;
the proposal is Active; the voter had votes at the snapshot; the voter is within
``BALLOT_RELAY_PER_VOTER_PER_HOUR``; the governor would take the vote (the relay's gas estimate
runs it); the relayer can pay for it. A refused ballot leaves no row and sends nothing.

The relay is an outbox: the ``BallotRelay`` row is committed with the signed transaction before
the transaction is broadcast, one row per (publication, voter). A retry of a ballot still
``sending`` broadcasts the same bytes again ("already known" is fine) and waits for them, so a
ballot is never sent twice; ``resume_ballot_relays`` (a periodic task) finishes rows whose
request gave up waiting.
"""

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_typing import ChecksumAddress
from web3 import Web3

from chain import ballots as onchain
from chain.ballots import Ballot, BallotReads, GovernorDomain
from chain.errors import ChainError, Reverted, RpcUnavailable
from chain.redaction import redact
from chain.transact import account_nonce, receipt_of
from chain.wallets import MalformedSignature, ask_wallet, normalize_ecdsa_signature, recover_signer
from governance.exceptions import (
    AlreadyVoted,
    BallotAlreadyRelayed,
    BallotNonceAhead,
    BallotNonceStale,
    BallotNoVotingPower,
    BallotRateLimited,
    BallotRelayFailed,
    BallotRelayRefused,
    BallotSignatureInvalid,
    ProposalNotActive,
    PublicationNotVotable,
    RelayerUnfunded,
    V4StyleBallot,
)
from governance.models import BallotRelay, BallotRelayStatus, BallotSignatureKind, GovernorVenue, Publication
from governance.models.publications import PublicationStatus
from governance.selectors import get_publication
from governance.venues import connect_venue, role_account
from recovery.exceptions import ChainUnavailable

if TYPE_CHECKING:
    from governance.ballots_input import SignedBallotInput

RATE_WINDOW = dt.timedelta(hours=1)


def ballot_typed_data(
    *,
    publication_id: int,
    voter: ChecksumAddress,
    support: int,
    reason: str | None = None,
    params: bytes = b"",
    rpc_url: str | None = None,
) -> dict[str, Any]:
    """The EIP-712 typed data ``voter`` signs to vote ``support`` on the publication's proposal.

    A ``Ballot``, or an ``ExtendedBallot`` when a reason (even empty) or params are given. The
    domain is the governor's (``eip712Domain()``), the nonce ``nonces(voter)``, both read now:
    a ballot relayed for the voter in between makes this one stale.
    """
    publication = _votable_publication(publication_id)
    w3, url = _connect(publication.venue, rpc_url)
    governor = publication.venue.governor
    try:
        domain = onchain.read_domain(w3, governor)
        nonce = onchain.read_nonce(w3, governor, voter)
    except ChainError as error:
        raise _chain_failure(error, url, publication) from None
    ballot = _ballot(publication, voter=voter, support=support, nonce=nonce, reason=reason, params=params or None)
    return onchain.ballot_typed_data(domain, ballot)


def relay_ballot(
    *,
    publication_id: int,
    voter: ChecksumAddress,
    support: int,
    signature: bytes,
    nonce: int,
    reason: str | None = None,
    params: bytes | None = None,
    rpc_url: str,
    signed_typed_data: dict[str, Any] | None = None,
) -> BallotRelay:
    """Check the signed ballot and cast it on the governor from the relayer key; the ``BallotRelay``.

    ``reason``/``params`` given (even empty) mean an ``ExtendedBallot``. ``signed_typed_data``,
    when the caller has it (a wallet's file), only sharpens the explanation of a signature made
    for something else. The row comes back ``relayed`` (VoteCast seen, its block and weight
    recorded) or, when the receipt did not come within ``BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS``,
    ``sending`` (a retry or the periodic task finishes it). Refusals: see the module docstring;
    each leaves nothing behind. ``BallotRelayFailed`` when the mined transaction failed (the row
    records it as ``failed``; a new signature may be relayed then).
    """
    publication = _votable_publication(publication_id)
    existing = BallotRelay.objects.filter(publication=publication, voter=voter).first()
    if existing is not None and existing.status == BallotRelayStatus.SENDING:
        return resume_ballot_relay(relay_id=existing.pk, rpc_url=rpc_url)
    if existing is not None and existing.status == BallotRelayStatus.RELAYED:
        raise _already_relayed(existing)
    ballot = _ballot(publication, voter=voter, support=support, nonce=nonce, reason=reason, params=params)
    venue = publication.venue
    w3, url = _connect(venue, rpc_url)
    try:
        reads = onchain.read_ballot_state(w3, governor=venue.governor, proposal_id=ballot.proposal_id, voter=voter)
    except ChainError as error:
        raise _chain_failure(error, url, publication) from None
    _check_nonce(ballot, reads)
    kind, relayed_signature, digest = _check_signature(
        w3, url, publication, ballot, signature, reads, signed_typed_data=signed_typed_data
    )
    _check_vote_open(publication, ballot, reads)
    _check_rate(voter=voter, publication=publication)
    relayer = role_account("relayer")
    call = onchain.cast_vote_call(w3, governor=venue.governor, ballot=ballot, signature=relayed_signature)
    try:
        quote = onchain.quote_relay(w3, call=call, relayer=relayer.address)
    except Reverted as error:
        raise BallotRelayRefused(
            f"the governor refuses this vote ({error.error}{tuple(error.args_) if error.args_ else ''}); nothing was "
            "sent",
            revert=error.error,
        ) from None
    except ChainError as error:
        raise _chain_failure(error, url, publication) from None
    if quote.balance < quote.cost:
        raise RelayerUnfunded(
            f"the relayer {relayer.address} cannot pay for relaying this ballot: it holds {quote.balance} wei and the "
            f"relay may cost up to {quote.cost} wei ({quote.gas} gas at up to {quote.max_fee_per_gas} wei per gas); "
            f"send at least {quote.cost - quote.balance} wei to {relayer.address}, then submit the ballot again",
            relayer=relayer.address,
            balance=str(quote.balance),
            needed=str(quote.cost),
            shortfall=str(quote.cost - quote.balance),
        )
    relay = _store_outbox(
        w3,
        url,
        publication=publication,
        ballot=ballot,
        signature=relayed_signature,
        kind=kind,
        digest=digest,
        reads=reads,
        relayer=relayer,
        quote=quote,
    )
    return _send(w3, url, relay, relayer=relayer)


def relay_signed_ballot(signed: "SignedBallotInput", *, publication_id: int, rpc_url: str) -> BallotRelay:
    """``relay_ballot`` for a ballot read by ``ballots_input.parse_signed_ballot`` (an API body or a wallet's file)."""
    return relay_ballot(
        publication_id=publication_id,
        voter=signed.voter,
        support=signed.support,
        signature=signed.signature,
        nonce=signed.nonce,
        reason=signed.reason,
        params=signed.params,
        rpc_url=rpc_url,
        signed_typed_data=signed.typed_data,
    )


def resume_ballot_relay(*, relay_id: int, rpc_url: str) -> BallotRelay:
    """Finish a ``sending`` relay: its receipt if mined, else its stored bytes broadcast again and awaited.

    Safe to run any number of times, concurrently with a retry of the same ballot: the only
    transaction ever broadcast for the row is the one it stores (re-signed at a fresh relayer
    nonce only when another transaction took that nonce and the ballot is still unused).
    A row in another state comes back unchanged.
    """
    relay = BallotRelay.objects.select_related("publication__venue").get(pk=relay_id)
    if relay.status != BallotRelayStatus.SENDING:
        return relay
    w3, url = _connect(relay.publication.venue, rpc_url)
    return _send(w3, url, relay, relayer=None)


def resume_ballot_relays(*, rpc_url: str, older_than_seconds: int = 30) -> list[int]:
    """Resume every relay still ``sending`` after ``older_than_seconds``; the ids resumed."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        BallotRelay.objects.filter(status=BallotRelayStatus.SENDING, updated_at__lt=cutoff).values_list("pk", flat=True)
    )
    for relay_id in ids:
        try:
            resume_ballot_relay(relay_id=relay_id, rpc_url=rpc_url)
        except BallotRelayFailed:
            continue  # recorded on the row as failed; the next row is independent
    return ids


# --- the checks ---------------------------------------------------------------------------------


def _votable_publication(publication_id: int) -> Publication:
    publication = get_publication(publication_id=publication_id)
    if publication.status != PublicationStatus.CREATED or publication.proposal_id is None:
        raise PublicationNotVotable(
            f"publication {publication_id} is {publication.status}, not created on chain: there is no proposal to "
            "vote on yet",
            publication=publication_id,
            status=publication.status,
        )
    return publication


def _ballot(
    publication: Publication,
    *,
    voter: ChecksumAddress,
    support: int,
    nonce: int,
    reason: str | None,
    params: bytes | None,
) -> Ballot:
    return Ballot(
        proposal_id=int(publication.proposal_id),
        support=support,
        voter=voter,
        nonce=nonce,
        reason=reason if reason is not None or params is None else "",
        params=params if params is not None or reason is None else b"",
    )


def _check_nonce(ballot: Ballot, reads: BallotReads) -> None:
    detail = {"voter": ballot.voter, "nonce": str(ballot.nonce), "expected_nonce": str(reads.nonce)}
    if ballot.nonce < reads.nonce:
        raise BallotNonceStale(
            f"the ballot's nonce {ballot.nonce} is stale: the governor's next nonce for {ballot.voter} is "
            f"{reads.nonce} (a ballot relayed since consumed it); sign the ballot again with nonce {reads.nonce}",
            **detail,
        )
    if ballot.nonce > reads.nonce:
        raise BallotNonceAhead(
            f"the ballot's nonce {ballot.nonce} is ahead of the governor's next nonce {reads.nonce} for "
            f"{ballot.voter} (the governor takes them in order, one at a time); sign the ballot again with nonce "
            f"{reads.nonce}",
            **detail,
        )


def _check_signature(
    w3: Web3,
    url: str,
    publication: Publication,
    ballot: Ballot,
    signature: bytes,
    reads: BallotReads,
    *,
    signed_typed_data: dict[str, Any] | None,
) -> tuple[str, bytes, str]:
    """(kind, the signature as relayed, the digest) once the signature is the voter's over exactly ``ballot``."""
    expected = onchain.ballot_typed_data(reads.domain, ballot)
    digest = onchain.typed_data_digest(expected)
    if reads.voter_is_contract:
        try:
            block = (reads.block_number, reads.block_hash)
            accepted = ask_wallet(w3, ballot.voter, digest=digest, signature=signature, block=block).valid
        except ChainError as error:
            raise _chain_failure(error, url, publication) from None
        if accepted:
            return BallotSignatureKind.EIP1271, signature, "0x" + digest.hex()
        raise BallotSignatureInvalid(
            f"the contract wallet {ballot.voter} does not accept this signature for the ballot (EIP-1271 "
            f"isValidSignature over digest 0x{digest.hex()} did not answer 0x1626ba7e): it was signed for something "
            f"else, or not as the wallet requires; {_what_to_sign(publication, ballot)}",
            reason="eip1271_refused",
            digest="0x" + digest.hex(),
            expected_typed_data=expected,
        )
    try:
        normalized = normalize_ecdsa_signature(signature)
    except MalformedSignature as error:
        raise BallotSignatureInvalid(str(error), reason="malformed_signature", field="signature") from None
    signer = recover_signer(digest, normalized)
    if signer == ballot.voter:
        return BallotSignatureKind.ECDSA, normalized, "0x" + digest.hex()
    raise _signed_for_something_else(publication, ballot, normalized, signer, reads.domain, expected, signed_typed_data)


def _signed_for_something_else(
    publication: Publication,
    ballot: Ballot,
    signature: bytes,
    signer: ChecksumAddress | None,
    domain: GovernorDomain,
    expected: dict[str, Any],
    signed_typed_data: dict[str, Any] | None,
) -> Exception:
    """The refusal that best says what the signature was made for: tried locally, nothing sent."""

    def signs(typed: dict[str, Any]) -> bool:
        return recover_signer(onchain.typed_data_digest(typed), signature) == ballot.voter

    v4 = onchain.v4_ballot_typed_data(domain, proposal_id=ballot.proposal_id, support=ballot.support)
    if signs(v4):
        return V4StyleBallot(
            "v4-style ballot: sign the v5 Ballot with voter and nonce (the signature is over OpenZeppelin v4's "
            "Ballot(uint256 proposalId,uint8 support), which a v5 governor refuses); "
            f"{_what_to_sign(publication, ballot)}",
            reason="v4_ballot",
        )
    base: dict[str, Any] = {"digest": "0x" + onchain.typed_data_digest(expected).hex(), "expected_typed_data": expected}
    for other in sorted(set(onchain.SUPPORT_NAMES) - {ballot.support}):
        variant = Ballot(**{**_fields(ballot), "support": other})
        if signs(onchain.ballot_typed_data(domain, variant)):
            return BallotSignatureInvalid(
                f"the ballot was signed as a vote {onchain.SUPPORT_NAMES[other]!r} ({other}), but sent as "
                f"{onchain.SUPPORT_NAMES[ballot.support]!r} ({ballot.support}): send the support that was signed",
                reason="other_support",
                signed_support=other,
                **base,
            )
    toggled = Ballot(
        **{
            **_fields(ballot),
            **({"reason": None, "params": None} if ballot.extended else {"reason": "", "params": b""}),
        }
    )
    if signs(onchain.ballot_typed_data(domain, toggled)):
        signed, sent = ("Ballot", "ExtendedBallot") if ballot.extended else ("ExtendedBallot", "Ballot")
        return BallotSignatureInvalid(
            f"the ballot was signed as {signed} but sent as {sent}: "
            + ("send it without reason and params" if ballot.extended else "send its reason and params too"),
            reason="other_ballot_type",
            **base,
        )
    differences = _differences(signed_typed_data, expected) if signed_typed_data else []
    recovered = f"it recovers to {signer}" if signer else "it recovers to no address"
    if differences:
        return BallotSignatureInvalid(
            f"the ballot was signed for something else: {'; '.join(differences)}; {_what_to_sign(publication, ballot)}",
            reason="signed_for_something_else",
            differences=differences,
            **base,
        )
    return BallotSignatureInvalid(
        f"the signature is not {ballot.voter}'s over this ballot ({recovered}): it was signed for something else "
        f"(another proposal, chain, governor, support or nonce) or with another key. This ballot is "
        f"{ballot.primary_type}(proposalId={ballot.proposal_id}, support={ballot.support}, voter={ballot.voter}, "
        f"nonce={ballot.nonce}) on the governor {domain.verifying_contract} of chain {domain.chain_id}; "
        f"{_what_to_sign(publication, ballot)}",
        reason="signed_for_something_else",
        recovered=signer,
        **base,
    )


def _fields(ballot: Ballot) -> dict[str, Any]:
    return {name: getattr(ballot, name) for name in Ballot.__slots__}


def _differences(signed: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Each domain or message field the signed typed data has otherwise than this ballot's."""
    labels = {
        "chainId": "chain",
        "verifyingContract": "governor",
        "name": "domain name",
        "version": "domain version",
        "proposalId": "proposal",
    }
    found = []
    for part in ("domain", "message"):
        theirs = signed.get(part) if isinstance(signed.get(part), dict) else {}
        for key, value in expected[part].items():
            given = theirs.get(key)
            if str(given).lower() != str(value).lower():
                found.append(
                    f"it names {labels.get(key, key)} {given}, but this ballot's {labels.get(key, key)} is {value}"
                )
    return found


def _what_to_sign(publication: Publication, ballot: Ballot) -> str:
    return (
        f"sign the typed data from GET /api/publications/{publication.pk}/ballot-typed-data/?voter={ballot.voter}"
        f"&support={onchain.SUPPORT_NAMES.get(ballot.support, ballot.support)}"
    )


def _check_vote_open(publication: Publication, ballot: Ballot, reads: BallotReads) -> None:
    unit = "seconds" if publication.venue.clock_mode.startswith("mode=timestamp") else "blocks"
    if reads.has_voted:
        raise AlreadyVoted(
            f"{ballot.voter} has already voted on proposal {ballot.proposal_id} (the governor's hasVoted is true): a "
            "governor counts one vote per account",
            voter=ballot.voter,
        )
    if reads.state != onchain.ACTIVE:
        if reads.state == 0:
            message = (
                f"voting on proposal {ballot.proposal_id} has not opened yet: it opens after {reads.snapshot} "
                f"({unit}; the governor's clock is at {reads.clock}); submit the ballot then"
            )
        else:
            message = (
                f"voting on proposal {ballot.proposal_id} is closed: the proposal is {reads.state_name} "
                f"(voting ended at {reads.deadline}, {unit}; the clock is at {reads.clock})"
            )
        raise ProposalNotActive(message, state=reads.state_name, snapshot=reads.snapshot, deadline=reads.deadline)
    if reads.weight == 0:
        raise BallotNoVotingPower(
            f"{ballot.voter} has no voting power at the snapshot ({reads.snapshot}, {unit}) of proposal "
            f"{ballot.proposal_id}: only votes delegated before voting opened count (a holder delegates to itself "
            "with the token's delegate())",
            voter=ballot.voter,
            snapshot=reads.snapshot,
        )


def _check_rate(*, voter: str, publication: Publication) -> None:
    limit = settings.BALLOT_RELAY_PER_VOTER_PER_HOUR
    now = timezone.now()
    recent = list(
        BallotRelay.objects.filter(voter=voter, attempted_at__gte=now - RATE_WINDOW)
        .exclude(publication=publication)
        .order_by("attempted_at")
        .values_list("attempted_at", flat=True)
    )
    if len(recent) < limit:
        return
    oldest_counted = recent[len(recent) - limit] if limit > 0 else now
    retry_after = max(1, math.ceil((oldest_counted + RATE_WINDOW - now).total_seconds()))
    raise BallotRateLimited(
        f"{voter} has had {len(recent)} ballots relayed in the last hour, the most allowed "
        f"(BALLOT_RELAY_PER_VOTER_PER_HOUR={limit}); submit this one again in {retry_after} seconds",
        voter=voter,
        limit=limit,
        retry_after=retry_after,
    )


# --- sending ------------------------------------------------------------------------------------


def _store_outbox(
    w3: Web3,
    url: str,
    *,
    publication: Publication,
    ballot: Ballot,
    signature: bytes,
    kind: str,
    digest: str,
    reads: BallotReads,
    relayer: Any,
    quote: onchain.RelayQuote,
) -> BallotRelay:
    """Commit the row with the signed relay transaction; nothing is broadcast yet."""
    venue = publication.venue
    try:
        with transaction.atomic():
            # The venue's row lock serialises the relayer's nonces among ballot relays.
            GovernorVenue.objects.select_for_update().get(pk=venue.pk)
            relay = BallotRelay.objects.select_for_update().filter(publication=publication, voter=ballot.voter).first()
            if relay is not None and relay.status != BallotRelayStatus.FAILED:
                raise _already_relayed(relay)
            nonce = _next_relayer_nonce(w3, url, publication, relayer.address)
            call = onchain.cast_vote_call(w3, governor=venue.governor, ballot=ballot, signature=signature)
            raw, tx_hash = onchain.sign_relay(
                w3, call=call, account=relayer, nonce=nonce, quote=quote, chain_id=reads.chain_id
            )
            relay = relay or BallotRelay(publication=publication, voter=ballot.voter)
            relay.chain_id, relay.governor, relay.proposal_id = reads.chain_id, venue.governor, ballot.proposal_id
            relay.support, relay.primary_type, relay.nonce = ballot.support, ballot.primary_type, ballot.nonce
            relay.reason = ballot.reason or ""
            relay.params = "0x" + ballot.params.hex() if ballot.params is not None else ""
            relay.signature, relay.kind, relay.digest = "0x" + signature.hex(), kind, digest
            relay.status, relay.error = BallotRelayStatus.SENDING, ""
            relay.checked_block, relay.checked_block_hash = reads.block_number, reads.block_hash
            relay.relayer, relay.relayer_nonce, relay.signed_tx, relay.tx_hash = relayer.address, nonce, raw, tx_hash
            relay.block_number, relay.block_hash, relay.log_index, relay.weight = None, "", None, None
            relay.attempted_at = timezone.now()
            relay.save()
    except IntegrityError:
        # Another request stored this voter's ballot between our read and our write.
        raise _already_relayed(BallotRelay.objects.get(publication=publication, voter=ballot.voter)) from None
    return relay


def _next_relayer_nonce(w3: Web3, url: str, publication: Publication, relayer: str) -> int:
    # The node's pending count misses a transaction signed and stored but not yet broadcast.
    try:
        pending = account_nonce(w3, relayer)
    except ChainError as error:
        raise _chain_failure(error, url, publication) from None
    stored = (
        BallotRelay.objects.filter(relayer=relayer, status=BallotRelayStatus.SENDING)
        .order_by("-relayer_nonce")
        .values_list("relayer_nonce", flat=True)
        .first()
    )
    return max(pending, stored + 1 if stored is not None else 0)


def _send(w3: Web3, url: str, relay: BallotRelay, *, relayer: Any) -> BallotRelay:
    timeout = settings.BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS
    try:
        receipt = receipt_of(w3, relay.tx_hash)
        if receipt is None:
            try:
                onchain.broadcast(w3, bytes(relay.signed_tx))
            except onchain.NonceTaken:
                relay = _resign(w3, url, relay, relayer=relayer)
                if relay.status != BallotRelayStatus.SENDING:
                    return relay
                onchain.broadcast(w3, bytes(relay.signed_tx))
            receipt = receipt_of(w3, relay.tx_hash, timeout=timeout)
    except RpcUnavailable:
        # Stored and maybe sent: a retry, or the periodic task, finishes it.
        return relay
    if receipt is None:
        return relay
    return _record_receipt(w3, url, relay, receipt)


def _resign(w3: Web3, url: str, relay: BallotRelay, *, relayer: Any) -> BallotRelay:
    """Another transaction took the stored nonce: sign the same vote at a fresh nonce, if the ballot is still unused."""
    try:
        reads = onchain.read_ballot_state(
            w3, governor=relay.governor, proposal_id=int(relay.proposal_id), voter=relay.voter
        )
    except ChainError as error:
        raise _chain_failure(error, url, relay.publication) from None
    if reads.has_voted or reads.nonce != int(relay.nonce):
        relay.status = BallotRelayStatus.FAILED
        relay.error = (
            "the relay transaction was never mined (its relayer nonce was taken by another transaction) and the "
            "ballot can no longer be cast: the voter has voted or used the nonce since"
        )
        relay.save(update_fields=["status", "error", "updated_at"])
        return relay
    relayer = relayer or role_account("relayer")
    ballot = _ballot_of(relay)
    call = onchain.cast_vote_call(
        w3, governor=relay.governor, ballot=ballot, signature=bytes.fromhex(relay.signature[2:])
    )
    try:
        quote = onchain.quote_relay(w3, call=call, relayer=relayer.address)
    except Reverted as error:
        relay.status, relay.error = BallotRelayStatus.FAILED, f"the governor now refuses the vote: {error}"
        relay.save(update_fields=["status", "error", "updated_at"])
        return relay
    with transaction.atomic():
        GovernorVenue.objects.select_for_update().get(pk=relay.publication.venue_id)
        nonce = _next_relayer_nonce(w3, url, relay.publication, relayer.address)
        raw, tx_hash = onchain.sign_relay(
            w3, call=call, account=relayer, nonce=nonce, quote=quote, chain_id=relay.chain_id
        )
        relay.relayer_nonce, relay.signed_tx, relay.tx_hash = nonce, raw, tx_hash
        relay.save(update_fields=["relayer_nonce", "signed_tx", "tx_hash", "updated_at"])
    return relay


def _ballot_of(relay: BallotRelay) -> Ballot:
    extended = relay.primary_type == "ExtendedBallot"
    return Ballot(
        proposal_id=int(relay.proposal_id),
        support=relay.support,
        voter=relay.voter,
        nonce=int(relay.nonce),
        reason=relay.reason if extended else None,
        params=bytes.fromhex(relay.params[2:]) if extended else None,
    )


def _record_receipt(w3: Web3, url: str, relay: BallotRelay, receipt: Any) -> BallotRelay:
    relay.block_number = int(receipt["blockNumber"])
    relay.block_hash = receipt["blockHash"].to_0x_hex()
    cast = None
    if receipt["status"] == 1:
        cast = onchain.vote_cast_in(
            w3, receipt, governor=relay.governor, voter=relay.voter, proposal_id=int(relay.proposal_id)
        )
    if cast is not None:
        relay.status, relay.weight, relay.log_index, relay.error = (
            BallotRelayStatus.RELAYED,
            cast.weight,
            cast.log_index,
            "",
        )
        relay.save(update_fields=["status", "weight", "log_index", "error", "block_number", "block_hash", "updated_at"])
        return relay
    if receipt["status"] == 1:
        reason = "the transaction succeeded but holds no VoteCast for the voter"
    else:
        ballot = _ballot_of(relay)
        call = onchain.cast_vote_call(
            w3, governor=relay.governor, ballot=ballot, signature=bytes.fromhex(relay.signature[2:])
        )
        reason = onchain.replay_revert(w3, call=call, relayer=relay.relayer, block=relay.block_number)
    relay.status = BallotRelayStatus.FAILED
    relay.error = redact(
        f"the relay transaction {relay.tx_hash} failed in block {relay.block_number}: {reason}", secrets=[url]
    )
    relay.save(update_fields=["status", "error", "block_number", "block_hash", "updated_at"])
    raise BallotRelayFailed(relay.error, ballot=relay.pk, tx_hash=relay.tx_hash)


# --- shared -------------------------------------------------------------------------------------


def _already_relayed(relay: BallotRelay) -> BallotAlreadyRelayed:
    where = f"in transaction {relay.tx_hash}" + (f" (block {relay.block_number})" if relay.block_number else "")
    state = "relayed" if relay.status == BallotRelayStatus.RELAYED else "being relayed"
    return BallotAlreadyRelayed(
        f"{relay.voter}'s ballot on this proposal was already {state} {where}: a governor counts one vote per "
        f"account (see /api/ballots/{relay.pk}/)",
        ballot=relay.pk,
        tx_hash=relay.tx_hash,
        status=relay.status,
    )


def _connect(venue: GovernorVenue, rpc_url: str | None) -> tuple[Web3, str]:
    """``connect_venue`` to ``rpc_url`` (the configured node without one), and the URL used."""
    url = rpc_url or settings.CHAIN_RPC_URL
    return connect_venue(venue, url), url


def _chain_failure(error: ChainError, url: str, publication: Publication) -> Exception:
    if isinstance(error, onchain.BallotReadFailed):
        return PublicationNotVotable(
            f"the governor {publication.venue.governor} does not answer for proposal {publication.proposal_id}: "
            f"{error} (was the proposal's creation reorganised away?)",
            publication=publication.pk,
        )
    return ChainUnavailable(redact(f"the node at {url} failed: {error}", secrets=[url]))
