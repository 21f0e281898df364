"""Reading a signed ballot as callers send it: flat fields, or the typed data a wallet signed.

Shared by the API and ``manage.py vote relay``. Two shapes are accepted:

- flat: ``{publication?, voter, support, nonce, signature, reason?, params?}``;
- as a wallet produced it: ``{publication?, signature, typed_data | typedData}`` where the typed
  data is the ``eth_signTypedData_v4`` object (or its JSON string), or the typed data's own
  ``domain``/``types``/``primaryType``/``message`` at the top level beside ``signature``.

Values are checked here (addresses checksummed, support one of for/against/abstain or 0/1/2,
nonce a uint256, hex well formed); whether the signature is the voter's is the service's job.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress

from chain.ballots import BALLOT_FIELDS, EXTENDED_BALLOT_FIELDS, SUPPORT_NAMES, SUPPORT_VALUES
from governance.exceptions import V4StyleBallot
from recovery.exceptions import InvalidInput
from recovery.validation import parse_address, parse_amount

# An EIP-1271 signature may be long (a Safe's is 65 bytes per owner, more with contract owners).
MAX_SIGNATURE_BYTES = 8_192
MAX_REASON_CHARS = 10_000
MAX_PARAMS_BYTES = 8_192


@dataclass(frozen=True, slots=True)
class SignedBallotInput:
    voter: ChecksumAddress
    support: int
    nonce: int
    signature: bytes
    reason: str | None  # None (and params None): a plain Ballot
    params: bytes | None
    publication_id: int | None = None
    typed_data: dict[str, Any] | None = None  # as the wallet signed it, for explaining a mismatch
    # What the typed data names, to find the publication when none is given.
    chain_id: int | None = None
    governor: ChecksumAddress | None = None
    proposal_id: int | None = None


def parse_support(value: object, *, field: str = "support") -> int:
    """``for``/``against``/``abstain`` or GovernorCountingSimple's 1/0/2 (an int or its digits)."""
    if isinstance(value, str) and value.strip().lower() in SUPPORT_VALUES:
        return SUPPORT_VALUES[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in SUPPORT_NAMES:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) in SUPPORT_NAMES:
        return int(value)
    raise InvalidInput(f"{field} {value!r} is not one of for, against, abstain (or 1, 0, 2)", field=field)


def parse_hex_bytes(value: object, *, field: str, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidInput(f"{field} must be 0x-prefixed hex", field=field)
    digits = value[2:]
    if len(digits) % 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidInput(f"{field} is not whole bytes of hex (0x and an even number of hex digits)", field=field)
    if len(digits) // 2 > max_bytes:
        raise InvalidInput(f"{field} is {len(digits) // 2} bytes, more than the {max_bytes} accepted", field=field)
    return bytes.fromhex(digits)


def parse_reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("reason must be a string", field="reason")
    if len(value) > MAX_REASON_CHARS:
        raise InvalidInput(f"reason is longer than {MAX_REASON_CHARS} characters", field="reason")
    return value


def parse_signed_ballot(payload: object, *, publication_id: int | None = None) -> SignedBallotInput:
    """``payload`` (a JSON object in either shape) as a ``SignedBallotInput``; ``InvalidInput`` names the field."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("the ballot must be a JSON object", field="ballot")
    given_publication = _publication(payload.get("publication"), publication_id)
    typed = payload.get("typed_data", payload.get("typedData"))
    if typed is None and {"domain", "message", "types"} <= payload.keys():
        typed = {key: payload[key] for key in ("domain", "types", "primaryType", "message") if key in payload}
    signature = parse_hex_bytes(payload.get("signature"), field="signature", max_bytes=MAX_SIGNATURE_BYTES)
    if typed is not None:
        return _from_typed_data(typed, signature=signature, publication_id=given_publication)
    missing = [name for name in ("voter", "support", "nonce") if payload.get(name) is None]
    if missing:
        raise InvalidInput(
            f"the ballot lacks {', '.join(missing)}: send voter, support, nonce and signature "
            "(or the signed typed data as typed_data with the signature)",
            field=missing[0],
        )
    params = payload.get("params")
    return SignedBallotInput(
        voter=parse_address(payload["voter"], field="voter"),
        support=parse_support(payload["support"]),
        nonce=parse_amount(payload["nonce"], field="nonce"),
        signature=signature,
        reason=parse_reason(payload.get("reason")),
        params=None if params is None else parse_hex_bytes(params, field="params", max_bytes=MAX_PARAMS_BYTES),
        publication_id=given_publication,
    )


def _publication(value: object, from_path: int | None) -> int | None:
    if value is None:
        return from_path
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise InvalidInput(f"publication {value!r} is not a publication id", field="publication")
    if from_path is not None and int(value) != from_path:
        raise InvalidInput(
            f"the ballot names publication {value}, but it was sent to publication {from_path}", field="publication"
        )
    return int(value)


def _from_typed_data(typed: object, *, signature: bytes, publication_id: int | None) -> SignedBallotInput:
    if isinstance(typed, str):
        try:
            typed = json.loads(typed)
        except ValueError:
            raise InvalidInput("typed_data is neither an object nor its JSON text", field="typed_data") from None
    if not isinstance(typed, Mapping):
        raise InvalidInput("typed_data must be an object {domain, types, primaryType, message}", field="typed_data")
    types, message, domain = typed.get("types"), typed.get("message"), typed.get("domain")
    primary = typed.get("primaryType")
    if not isinstance(types, Mapping) or not isinstance(message, Mapping) or not isinstance(domain, Mapping):
        raise InvalidInput("typed_data needs types, domain and message objects", field="typed_data")
    fields = types.get(primary) if isinstance(primary, str) else None
    names = [entry.get("name") for entry in fields or [] if isinstance(entry, Mapping)]
    if primary == "Ballot" and names == ["proposalId", "support"]:
        raise V4StyleBallot(
            "v4-style ballot: sign the v5 Ballot with voter and nonce (this is OpenZeppelin v4's "
            "Ballot(uint256 proposalId,uint8 support), which a v5 governor refuses)",
            field="typed_data",
        )
    expected = {"Ballot": BALLOT_FIELDS, "ExtendedBallot": EXTENDED_BALLOT_FIELDS}.get(str(primary))
    if expected is None or list(fields or []) != expected:
        raise InvalidInput(
            f"typed_data's primaryType {primary!r} is not OpenZeppelin v5's Ballot(uint256 proposalId,uint8 "
            "support,address voter,uint256 nonce) or ExtendedBallot(..., string reason, bytes params) with exactly "
            "those fields",
            field="typed_data",
        )
    extended = primary == "ExtendedBallot"
    governor = domain.get("verifyingContract")
    chain_id = domain.get("chainId")
    return SignedBallotInput(
        voter=parse_address(message.get("voter"), field="typed_data.message.voter"),
        support=parse_support(message.get("support"), field="typed_data.message.support"),
        nonce=parse_amount(message.get("nonce"), field="typed_data.message.nonce"),
        signature=signature,
        reason=parse_reason(message.get("reason", "")) if extended else None,
        params=parse_hex_bytes(
            message.get("params", "0x"), field="typed_data.message.params", max_bytes=MAX_PARAMS_BYTES
        )
        if extended
        else None,
        publication_id=publication_id,
        typed_data=dict(typed),
        chain_id=_chain_id(chain_id),
        governor=parse_address(governor, field="typed_data.domain.verifyingContract") if governor else None,
        proposal_id=parse_amount(message.get("proposalId"), field="typed_data.message.proposalId"),
    )


def _chain_id(value: object) -> int | None:
    # Wallets write the domain's chain id as a number, a decimal string or 0x-hex.
    if value is None:
        return None
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        return int.from_bytes(
            parse_hex_bytes(
                value if len(value) % 2 == 0 else "0x0" + value[2:], field="typed_data.domain.chainId", max_bytes=32
            ),
            "big",
        )
    return parse_amount(value, field="typed_data.domain.chainId")
