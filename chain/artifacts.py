"""Compiled contract artifacts (``contracts/artifacts/*.json``, built by ``make contracts``)."""

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.contract import Contract

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "artifacts"


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    source_path: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


class UnknownArtifact(LookupError):
    """A name that is not one of the compiled artifacts (``artifact_names()``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no compiled contract {name!r} (known: {', '.join(artifact_names())})")


def load_artifact(name: str) -> Artifact:
    """The compiled artifact ``name``; ``UnknownArtifact`` unless it is one of ``artifact_names()``.

    Only a listed name reaches the file system: callers pass names from requests, and a path
    (``../../x``, ``/etc/x``, a NUL byte) must answer exactly as a missing contract does,
    never open a file outside ``contracts/artifacts/``.
    """
    if not isinstance(name, str) or name not in artifact_names():
        raise UnknownArtifact(str(name))
    return _read_artifact(name)


@functools.cache
def _read_artifact(name: str) -> Artifact:
    raw = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return Artifact(
        name=raw["contractName"],
        source_path=raw["sourcePath"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
    )


def artifact_names() -> list[str]:
    """The compiled contracts' names: the stems of ``contracts/artifacts/*.json``."""
    return sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))


def bind(w3: Web3, name: str, address: str) -> Contract:
    """The contract ``name`` at ``address``, with the ABI from its artifact."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)


def factory(w3: Web3, name: str) -> type[Contract]:
    artifact = load_artifact(name)
    return w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)


@functools.cache
def custom_errors() -> dict[bytes, tuple[str, list[str]]]:
    """Every custom error declared in any artifact, by its 4-byte selector."""
    errors: dict[bytes, tuple[str, list[str]]] = {}
    for name in artifact_names():
        for entry in load_artifact(name).abi:
            if entry.get("type") == "error":
                types = [param["type"] for param in entry["inputs"]]
                selector = function_abi_to_4byte_selector({"type": "function", **entry})
                errors[selector] = (entry["name"], types)
    return errors


def checksum(address: str) -> ChecksumAddress:
    return to_checksum_address(address)
