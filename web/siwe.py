"""Sign-In with Ethereum (EIP-4361): the message text, its strict parser, and the server's checks.

PyPI's ``siwe`` does not work with web3.py 8, so the format is written here from the EIP's ABNF and
the signature is checked with eth-account (EIP-191 ``personal_sign``), or, for a contract wallet,
by the wallet's own ``isValidSignature`` on the chain (EIP-1271, through ``chain.wallets``).

``format_message`` and ``parse_message`` are pure. ``issue_nonce`` and ``verify`` write the
``SiweNonce`` rows: a nonce is issued by the server, lives ``NONCE_LIFETIME``, and is spent by the
first message that passes every other check; a second use is a replay and is refused.

Without a statement the ABNF puts two empty lines between the address and ``URI:`` (viem writes
the same); a message with one is refused, as is any other deviation from the ABNF.
"""

import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from django.db import transaction
from eth_account.messages import defunct_hash_message
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from rest_framework import status as http
from web3 import Web3

from chain import wallets
from chain.errors import RpcUnavailable
from config.errors import LifeboatError
from web.models import SiweNonce

NONCE_LIFETIME = timedelta(minutes=10)
# A wallet's clock may run a little ahead of the server's: an Issued At this far ahead is accepted.
ISSUED_AT_SKEW = timedelta(minutes=1)
# Spent and expired nonces are kept this long (a replay then reads "used", not "unknown"), then purged.
NONCE_RETENTION = timedelta(days=1)
# The window of the per-address nonce limit (SIWE_NONCES_PER_IP_PER_HOUR).
RATE_WINDOW = timedelta(hours=1)

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
# RFC 3986 authority: [userinfo "@"] host [":" port], host a reg-name, IPv4 or bracketed IP literal.
_AUTHORITY = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:%]*@)?(?:\[[0-9A-Fa-f:.vV]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?"
_HEADER = re.compile(rf"(?:(?P<scheme>{_SCHEME})://)?(?P<domain>{_AUTHORITY})")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_CHAIN_ID = re.compile(r"[0-9]+")
# RFC 3339 date-time, as the EIP requires (no date-only, no space separator, no lowercase t/z).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
# RFC 3986: a URI is a scheme, ":", then only these characters, percent escapes complete.
_URI = re.compile(rf"{_SCHEME}:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{{2}})*")
# The ABNF's statement: reserved / unreserved / " " (printable ASCII but for " % < > \ ^ ` { | }).
_STATEMENT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]*")
# request-id = *pchar
_REQUEST_ID = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*")


@dataclass(frozen=True, slots=True)
class SiweMessage:
    """The fields of one EIP-4361 message; times are aware datetimes."""

    domain: str
    address: ChecksumAddress
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    version: str = "1"
    scheme: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default=())


# --- Errors: each names what was wrong; a page shows the message as it is ---


class SiweError(LifeboatError):
    code = "siwe_rejected"
    status = http.HTTP_401_UNAUTHORIZED


class MalformedMessage(SiweError):
    code = "siwe_malformed_message"
    status = http.HTTP_400_BAD_REQUEST


class MalformedSignature(SiweError):
    code = "siwe_malformed_signature"
    status = http.HTTP_400_BAD_REQUEST


class BadSignature(SiweError):
    code = "siwe_bad_signature"


class WrongDomain(SiweError):
    code = "siwe_wrong_domain"


class WrongUri(SiweError):
    code = "siwe_wrong_uri"


class WrongChain(SiweError):
    code = "siwe_wrong_chain"


class IssuedInFuture(SiweError):
    code = "siwe_issued_in_future"


class MessageExpired(SiweError):
    code = "siwe_expired"


class NotYetValid(SiweError):
    code = "siwe_not_yet_valid"


class UnknownNonce(SiweError):
    code = "siwe_unknown_nonce"


class NonceExpired(SiweError):
    code = "siwe_nonce_expired"


class NonceReplayed(SiweError):
    code = "siwe_nonce_used"
    status = http.HTTP_409_CONFLICT


class ChainUnavailable(SiweError):
    """The node did not answer the contract wallet's EIP-1271 check; signing in again later is safe."""

    code = "chain_unavailable"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


# --- The message text (pure) ---


def format_time(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with milliseconds and ``Z``, as JavaScript's ``toISOString`` writes it."""
    if moment.tzinfo is None:
        raise ValueError("a SIWE time must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def format_message(message: SiweMessage) -> str:
    """The EIP-4361 text of ``message``, exactly as a wallet shows and signs it (no trailing newline).

    ``ValueError`` for a field the ABNF does not allow (a newline in the statement, a short nonce...).
    """
    _check_fields(message)
    origin = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
    lines = [origin + _HEADER_SUFFIX, to_checksum_address(message.address), ""]
    if message.statement:
        lines.append(message.statement)
    lines += [
        "",
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {format_time(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {format_time(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {format_time(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)


def _check_fields(message: SiweMessage) -> None:
    if message.scheme is not None and not re.fullmatch(_SCHEME, message.scheme):
        raise ValueError(f"scheme {message.scheme!r} is not an RFC 3986 scheme")
    if not _HEADER.fullmatch(message.domain) or "://" in message.domain:
        raise ValueError(f"domain {message.domain!r} is not an RFC 3986 authority")
    if not _ADDRESS.fullmatch(str(message.address)):
        raise ValueError(f"address {message.address!r} is not 0x and 40 hex digits")
    if message.statement is not None and not _STATEMENT.fullmatch(message.statement):
        raise ValueError("the statement may hold only ASCII letters, digits, spaces and RFC 3986 reserved characters")
    if not _URI.fullmatch(message.uri):
        raise ValueError(f"uri {message.uri!r} is not an RFC 3986 URI")
    if message.version != "1":
        raise ValueError(f"version must be '1', not {message.version!r}")
    if isinstance(message.chain_id, bool) or not isinstance(message.chain_id, int) or message.chain_id < 0:
        raise ValueError(f"chain id must be a non-negative integer, not {message.chain_id!r}")
    if not _NONCE.fullmatch(message.nonce):
        raise ValueError("the nonce must be at least 8 ASCII letters or digits")
    if message.request_id is not None and not _REQUEST_ID.fullmatch(message.request_id):
        raise ValueError(f"request id {message.request_id!r} holds characters a URI path segment cannot")
    for resource in message.resources:
        if not _URI.fullmatch(resource):
            raise ValueError(f"resource {resource!r} is not an RFC 3986 URI")


def parse_message(text: str) -> SiweMessage:
    """The fields of an EIP-4361 message, read strictly.

    ``ValueError`` naming the first line (counted from 1) that the ABNF does not allow: lines end
    with LF only, the address is EIP-55 checksummed, fields come in the EIP's order, and nothing
    follows the last field (not even a newline).
    """
    if not isinstance(text, str) or not text:
        raise ValueError("the message is empty")
    if "\r" in text:
        line = text[: text.index("\r")].count("\n") + 1
        raise ValueError(f"line {line}: carriage return; EIP-4361 lines end with LF only")
    lines = text.split("\n")
    reader = _Lines(lines)

    header = reader.take("the header")
    if not header.endswith(_HEADER_SUFFIX):
        reader.fail(f"expected '<domain>{_HEADER_SUFFIX}'")
    origin = _HEADER.fullmatch(header.removesuffix(_HEADER_SUFFIX))
    if origin is None:
        reader.fail("the domain is not an RFC 3986 authority (with an optional scheme://)")

    address = reader.take("the address")
    if not _ADDRESS.fullmatch(address):
        reader.fail("the address must be 0x and 40 hex digits")
    if address != to_checksum_address(address):
        reader.fail(f"the address is not EIP-55 checksummed (expected {to_checksum_address(address)})")

    if reader.take("an empty line") != "":
        reader.fail("expected an empty line after the address")
    statement = None
    if reader.peek(0) == "":
        reader.skip()  # no statement: two empty lines
    else:
        statement = reader.take("the statement")
        if not _STATEMENT.fullmatch(statement):
            reader.fail("the statement may hold only ASCII letters, digits, spaces and RFC 3986 reserved characters")
        if reader.take("an empty line") != "":
            reader.fail("expected an empty line after the statement")

    uri = reader.field("URI", _URI, "an RFC 3986 URI")
    version = reader.field("Version", re.compile("1"), "'1'")
    chain_id = int(reader.field("Chain ID", _CHAIN_ID, "a decimal chain id"))
    nonce = reader.field("Nonce", _NONCE, "at least 8 ASCII letters or digits")
    issued_at = reader.time("Issued At")
    expiration_time = reader.time("Expiration Time") if reader.starts("Expiration Time: ") else None
    not_before = reader.time("Not Before") if reader.starts("Not Before: ") else None
    request_id = (
        reader.field("Request ID", _REQUEST_ID, "URI path characters") if reader.starts("Request ID:") else None
    )
    resources: list[str] = []
    if reader.peek(0) == "Resources:":
        reader.skip()
        while reader.peek(0) is not None:
            resource = reader.take("a resource")
            if not resource.startswith("- ") or not _URI.fullmatch(resource[2:]):
                reader.fail("expected '- <RFC 3986 URI>' in the resources")
            resources.append(resource[2:])
    if reader.peek(0) is not None:
        reader.skip()
        reader.fail("unexpected text after the last field (fields come in the EIP's order, no trailing newline)")

    return SiweMessage(
        domain=origin["domain"],
        address=to_checksum_address(address),
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at,
        statement=statement,
        version=version,
        scheme=origin["scheme"],
        expiration_time=expiration_time,
        not_before=not_before,
        request_id=request_id,
        resources=tuple(resources),
    )


class _Lines:
    """A cursor over the message's lines that names the current line in its errors."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0  # of the next line to take

    def fail(self, reason: str) -> NoReturn:
        raise ValueError(f"line {self.index}: {reason}")

    def peek(self, ahead: int) -> str | None:
        position = self.index + ahead
        return self.lines[position] if position < len(self.lines) else None

    def skip(self) -> None:
        self.index += 1

    def take(self, what: str) -> str:
        if self.index >= len(self.lines):
            self.index += 1
            self.fail(f"the message ends where {what} should be")
        self.index += 1
        return self.lines[self.index - 1]

    def starts(self, prefix: str) -> bool:
        line = self.peek(0)
        return line is not None and line.startswith(prefix)

    def field(self, name: str, pattern: re.Pattern[str], expected: str) -> str:
        line = self.take(f"'{name}: '")
        if not line.startswith(f"{name}: "):
            self.fail(f"expected '{name}: ' (fields come in the EIP's order)")
        value = line[len(name) + 2 :]
        if not pattern.fullmatch(value):
            self.fail(f"{name} must be {expected}, not {value!r}")
        return value

    def time(self, name: str) -> datetime:
        value = self.field(name, _DATE_TIME, "an RFC 3339 date-time such as 2026-01-31T12:00:00.000Z")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{name} {value!r} is not a real date and time")


# --- Nonces and verification (the database; the chain only for a contract wallet) ---


class TooManyNonces(SiweError):
    """Too many nonces asked from one client address this hour; answered with Retry-After."""

    code = "siwe_rate_limited"
    status = http.HTTP_429_TOO_MANY_REQUESTS

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.detail["retry_after"])}


def issue_nonce(*, now: datetime, client_ip: str | None = None, per_hour: int | None = None) -> SiweNonce:
    """A fresh nonce, valid ``NONCE_LIFETIME`` from ``now``; long-dead nonces are purged on the way.

    With ``per_hour``, ``client_ip`` may have at most that many nonces issued in the last hour:
    one more is ``TooManyNonces`` (429) with ``Retry-After``, the seconds until the oldest of them
    leaves the hour. ``NONCE_RETENTION`` is longer than the hour, so the purge never hides one.
    """
    SiweNonce.objects.filter(expires_at__lt=now - NONCE_RETENTION).delete()
    if per_hour is not None and client_ip is not None:
        recent = SiweNonce.objects.filter(client_ip=client_ip, issued_at__gt=now - RATE_WINDOW)
        if recent.count() >= per_hour:
            oldest = recent.order_by("issued_at").values_list("issued_at", flat=True).first()
            wait = max(1, math.ceil(((oldest or now) + RATE_WINDOW - now).total_seconds()))
            raise TooManyNonces(
                f"too many sign-in attempts from this address: at most {per_hour} an hour; try again in {wait} s",
                retry_after=wait,
            )
    # 128 bits, alphanumeric as the ABNF requires.
    return SiweNonce.objects.create(
        nonce=secrets.token_hex(16), issued_at=now, expires_at=now + NONCE_LIFETIME, client_ip=client_ip
    )


def verify(
    text: str,
    signature: str,
    *,
    expected_domain: str,
    expected_uri: str,
    expected_chain_id: int,
    now: datetime,
    expected_scheme: str | None = None,
    w3: Web3 | None = None,
) -> ChecksumAddress:
    """The address that signed in with ``text`` and ``signature``; the message's nonce is spent.

    Checks, in order: the text parses (``MalformedMessage``), domain (and scheme, when the message
    names one), URI and chain id are the server's, Issued At is not ahead of ``now`` by more than
    ``ISSUED_AT_SKEW``, ``now`` lies in [Not Before, Expiration Time), the signature is the
    address's (EIP-191, else EIP-1271 when ``w3`` is given and the address holds code), and last the
    nonce is one ``issue_nonce`` made, unexpired and unused, marked used in one UPDATE, so of two
    concurrent uses one wins and the other is ``NonceReplayed``.
    """
    try:
        message = parse_message(text)
    except ValueError as error:
        raise MalformedMessage(f"the sign-in message is malformed: {error}") from None
    signature_bytes = _signature_bytes(signature)

    if message.domain != expected_domain:
        raise WrongDomain(
            f"the message is for {message.domain!r}, not this site ({expected_domain!r})",
            domain=message.domain,
            expected=expected_domain,
        )
    if message.scheme is not None and expected_scheme is not None and message.scheme != expected_scheme:
        raise WrongDomain(
            f"the message is for a {message.scheme}:// site, not {expected_scheme}://",
            scheme=message.scheme,
            expected=expected_scheme,
        )
    if message.uri != expected_uri:
        raise WrongUri(
            f"the message signs in to {message.uri!r}, not {expected_uri!r}", uri=message.uri, expected=expected_uri
        )
    if message.chain_id != expected_chain_id:
        raise WrongChain(
            f"the message is for chain {message.chain_id}, this site is on chain {expected_chain_id}",
            chain_id=message.chain_id,
            expected=expected_chain_id,
        )
    if message.issued_at > now + ISSUED_AT_SKEW:
        raise IssuedInFuture(
            f"the message is issued at {format_time(message.issued_at)}, after now ({format_time(now)}): "
            "check the wallet's clock",
            issued_at=format_time(message.issued_at),
        )
    if message.expiration_time is not None and now >= message.expiration_time:
        raise MessageExpired(
            f"the message expired at {format_time(message.expiration_time)}: sign in again",
            expiration_time=format_time(message.expiration_time),
        )
    if message.not_before is not None and now < message.not_before:
        raise NotYetValid(
            f"the message is not valid before {format_time(message.not_before)}",
            not_before=format_time(message.not_before),
        )

    _check_signature(text, signature_bytes, address=message.address, w3=w3)
    _spend_nonce(nonce=message.nonce, address=message.address, now=now)
    return message.address


def _signature_bytes(signature: str) -> bytes:
    if not isinstance(signature, str) or not re.fullmatch(r"0x(?:[0-9a-fA-F]{2})+", signature):
        raise MalformedSignature("the signature must be 0x and hex digits")
    return bytes.fromhex(signature[2:])


def _check_signature(text: str, signature: bytes, *, address: ChecksumAddress, w3: Web3 | None) -> None:
    digest = bytes(defunct_hash_message(text=text))  # EIP-191 version 0x45, what personal_sign signs
    signer = None
    if len(signature) == 65:
        try:
            signer = wallets.recover_signer(digest, wallets.normalize_ecdsa_signature(signature))
        except wallets.MalformedSignature:
            signer = None
    if signer == address:
        return
    if w3 is not None:
        # Not the account's own signature: the address may be a contract wallet (a Safe) that vouches for it.
        try:
            block = wallets.read_block(w3, confirmations=0)
            answer = (
                wallets.ask_wallet(w3, address, digest=digest, signature=signature, block=block)
                if wallets.has_code(w3, address, block=block[0])
                else None
            )
        except RpcUnavailable as error:
            raise ChainUnavailable(
                f"the signature is not {address}'s own, and whether {address} is a contract wallet that accepts it "
                f"could not be checked: {error}"
            ) from None
        if answer is not None and answer.valid:
            return
        if answer is not None:
            raise BadSignature(
                f"the contract wallet {address} does not accept the signature (it answered {answer.answer})",
                address=address,
            )
    if len(signature) != 65:
        raise MalformedSignature(f"an account's signature is 65 bytes, not {len(signature)}")
    raise BadSignature(
        f"the signature is not {address}'s over this message"
        + (f" (it is {signer}'s)" if signer else "")
        + ": sign the message exactly as issued",
        address=address,
    )


def _spend_nonce(*, nonce: str, address: ChecksumAddress, now: datetime) -> None:
    with transaction.atomic():
        spent = SiweNonce.objects.filter(nonce=nonce, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now, address=address
        )
    if spent == 1:
        return
    row = SiweNonce.objects.filter(nonce=nonce).first()
    if row is None:
        raise UnknownNonce("the message's nonce was not issued by this site: ask for a new one and sign again")
    if row.used_at is not None:
        raise NonceReplayed("the message's nonce was already used: this sign-in message cannot be used twice")
    raise NonceExpired(f"the message's nonce expired at {format_time(row.expires_at)}: ask for a new one")
