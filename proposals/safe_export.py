"""A proposal's calls as a Safe Transaction Builder batch file, with the checksum the app computes.

Committees and treasuries that act through a Safe import this file into the Transaction
Builder app (``safe-global/safe-react-apps``, ``apps/tx-builder``) instead of voting on a
governor. The shape is the app's ``BatchFile`` (``src/typings/models.ts``)::

    {version: "1.0", chainId: "<decimal>", createdAt: <ms>,
     meta: {name, description, txBuilderVersion, createdFromSafeAddress, createdFromOwnerAddress, checksum},
     transactions: [{to, value, data, contractMethod, contractInputsValues}]}

A call whose method Lifeboat knows (a RecoveryExecutor function, such as ``approvePlan``)
carries ``contractMethod`` and ``contractInputsValues`` (strings by input name) and ``data:
null``, as the app itself writes a method call, so the app shows it decoded and encodes it
again; any other call carries its raw ``data`` and ``contractMethod: null``. Absent values are
``null``, as the app's download writes them.

The checksum (``src/lib/checksum.ts``) is keccak256 of the UTF-8 of an ad hoc serialisation
of the file with ``meta.name`` set to null and without ``meta.checksum``: an object becomes
``{`` + the JSON array of its sorted keys + each value's serialisation followed by ``,`` +
``}``, an array ``[`` + its items joined by ``,`` + ``]``, anything else its
``JSON.stringify``. ``meta.name`` is left out so a renamed batch keeps its checksum. The app
only warns on import when the checksum does not match; it is an integrity check, not a
signature. Pure: calls in, file out.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils import keccak

from proposals.calls import ProposalCall
from recovery.parameters import canonical_signature, decode_call

BATCH_VERSION = "1.0"
# The Transaction Builder release whose file format and checksum this follows (apps/tx-builder/package.json).
TX_BUILDER_VERSION = "1.18.3"
# The app parses only simple input values from strings reliably; a call with an array or tuple
# input is exported as raw data.
_SIMPLE_TYPE = re.compile(r"(u?int[0-9]*|address|bool|bytes[0-9]+|bytes|string)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_SAFE_INTEGER = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SafeExportError(ValueError):
    """A value the batch file cannot hold as the app reads it (a float, an integer beyond 2**53)."""


# --- The app's checksum ---


def batch_checksum(batch: Mapping[str, Any]) -> str:
    """The checksum exactly as ``calculateChecksum`` computes it over ``batch`` as given (``0x`` + 64 hex).

    ``meta.name`` counts as null; every other key counts, ``meta.checksum`` included when
    present (``add_checksum`` and ``checksum_matches`` leave it out, as the app does).
    """
    return "0x" + keccak(_serialize({**batch, "meta": {**batch["meta"], "name": None}}).encode("utf-8")).hex()


def add_checksum(batch: Mapping[str, Any]) -> dict[str, Any]:
    """``batch`` with ``meta.checksum`` set, computed without one (the app's ``addChecksum`` on a new file)."""
    meta = {key: value for key, value in batch["meta"].items() if key != "checksum"}
    return {**batch, "meta": {**meta, "checksum": batch_checksum({**batch, "meta": meta})}}


def checksum_matches(batch: Mapping[str, Any]) -> bool:
    """What the app's ``validateChecksum`` answers on import: the checksum of the file without it, compared."""
    meta = dict(batch["meta"])
    claimed = meta.pop("checksum", None)
    return claimed == batch_checksum({**batch, "meta": meta})


def _serialize(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_serialize(item) for item in value) + "]"
    if isinstance(value, Mapping):
        # JavaScript's default sort compares UTF-16 code units, not code points.
        keys = sorted(value, key=lambda key: key.encode("utf-16-be"))
        return (
            "{["
            + ",".join(_js_string(key) for key in keys)
            + "]"
            + "".join(_serialize(value[k]) + "," for k in keys)
            + "}"
        )
    return _js_scalar(value)


def _js_scalar(value: Any) -> str:
    """``JSON.stringify(value)`` for the scalars a batch file holds."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise SafeExportError(f"{value} is beyond JavaScript's exact integers: give it as a decimal string")
        return str(value)
    if isinstance(value, str):
        return _js_string(value)
    raise SafeExportError(f"a batch file holds no {type(value).__name__} ({value!r}): amounts are decimal strings")


def _js_string(text: str) -> str:
    # Python's escaping without ensure_ascii matches JSON.stringify's (the same short escapes,
    # \u00xx in lower case for other control characters, everything else as is), except for a
    # lone surrogate, which JSON.stringify writes as \udxxx.
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(text, ensure_ascii=False))


# --- Building the file ---


def contract_methods(abi: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ABI's functions with simple inputs, by canonical signature, as ``contractMethod`` values."""
    methods = {}
    for entry in abi:
        if entry.get("type") != "function":
            continue
        inputs = entry["inputs"]
        if not all(_SIMPLE_TYPE.fullmatch(item["type"]) and item.get("name") for item in inputs):
            continue
        signature = canonical_signature(f"{entry['name']}({','.join(item['type'] for item in inputs)})")
        methods[signature] = {
            "inputs": [
                {"internalType": item.get("internalType", item["type"]), "name": item["name"], "type": item["type"]}
                for item in inputs
            ],
            "name": entry["name"],
            "payable": entry.get("stateMutability") == "payable",
        }
    return methods


def batch_transaction(call: ProposalCall, *, methods: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One call as a batch transaction: decoded when ``methods`` (for its target) knows its signature."""
    method = methods.get(call.signature)
    if method is None:
        return {
            "to": call.target,
            "value": str(call.value),
            "data": call.calldata,
            "contractMethod": None,
            "contractInputsValues": None,
        }
    decoded = decode_call(calldata=call.calldata, signature=call.signature)
    return {
        "to": call.target,
        "value": str(call.value),
        "data": None,
        "contractMethod": {**method, "inputs": [dict(item) for item in method["inputs"]]},
        "contractInputsValues": {
            item["name"]: _input_value(value) for item, value in zip(method["inputs"], decoded.args, strict=True)
        },
    }


def _input_value(value: Any) -> str:
    """One input as the app's form holds it: decimal integers, ``true``/``false``, hex and addresses as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # an int in decimal; an address (EIP-55), bytes (0x-hex) or a string as it is


def safe_batch(
    *,
    calls: Sequence[ProposalCall],
    chain_id: int,
    created_at_ms: int,
    name: str,
    description: str,
    methods_by_target: Mapping[str, Mapping[str, Mapping[str, Any]]],
    safe_address: str = "",
    owner_address: str = "",
) -> dict[str, Any]:
    """The batch file for ``calls``, checksummed; ``methods_by_target`` maps an address to its known methods."""
    batch = {
        "version": BATCH_VERSION,
        "chainId": str(chain_id),
        "createdAt": created_at_ms,
        "meta": {
            "name": name,
            "description": description,
            "txBuilderVersion": TX_BUILDER_VERSION,
            "createdFromSafeAddress": safe_address,
            "createdFromOwnerAddress": owner_address,
        },
        "transactions": [batch_transaction(call, methods=methods_by_target.get(call.target, {})) for call in calls],
    }
    return add_checksum(batch)


# --- The export of a stored proposal ---


def export_safe_batch(*, proposal_id: int, venue_id: int, safe_address: str = "") -> dict[str, Any]:
    """The batch file of proposal ``proposal_id``'s calls approving on venue ``venue_id``'s RecoveryExecutor.

    ``createdAt`` is the document's freeze time, so every export of one document for one venue
    and Safe is byte-identical (and so is its checksum). 404 for an unknown proposal or venue,
    409 for a venue on another chain than the incident or on another RecoveryExecutor than the
    plan's batch leaves are bound to, 400 for a Safe address not in EIP-55.
    """
    from chain.artifacts import load_artifact
    from proposals.calls import document_content, proposal_calls
    from proposals.services import document_path
    from proposals.signoffs import get_document_and_venue
    from recovery.validation import parse_address

    safe = parse_address(safe_address, field="safe") if safe_address else ""
    document, venue = get_document_and_venue(proposal_id=proposal_id, venue_id=venue_id)
    calls = proposal_calls(document_content(document.canonical_bytes), recovery_executor=venue.recovery_executor)
    executor_methods = contract_methods(load_artifact("RecoveryExecutor").abi)
    return safe_batch(
        calls=calls,
        chain_id=venue.chain_id,
        created_at_ms=(document.created_at - _EPOCH) // timedelta(milliseconds=1),
        name=f"Lifeboat proposal {document.pk} (incident {document.incident_id}, plan version {document.version})",
        description=(
            f"{document.incident.title}: the calls of Lifeboat proposal {document.pk}, approving on the "
            f"RecoveryExecutor {venue.recovery_executor}. content-hash: {document.content_hash}; "
            f"document: {document_path(document.pk)}"
        ),
        methods_by_target={venue.recovery_executor: executor_methods},
        safe_address=safe,
    )
