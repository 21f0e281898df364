"""The escape hatch: one self-contained HTML file per deployment that lets a holder leave the vault
with nothing but a browser wallet, when Lifeboat's pages (or the protocol's) are down.

The file carries everything inline: its markup, style, script, the chain id, the contract
addresses, and the ABI fragments and selectors of the few calls it makes, taken from the compiled
artifacts (``chain/artifacts.py``) so they are never typed twice. It talks only to
``window.ethereum`` (EIP-1193); a Content-Security-Policy naming the hashes of its own script and
style forbids every other script and every network request, so a copy opened from disk or any
static host does exactly what the "What this page does" section lists.

The output is deterministic for one deployment (no build time, ordered JSON), so its SHA-256 is a
stable name a committee can publish: ``build_escape_hatch`` records it (``EscapeHatchBuild``),
``verify_escape_hatch`` recomputes a copy's hash and compares it with the records.
"""

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from eth_utils import abi_to_signature, function_abi_to_4byte_selector, to_checksum_address

from chain.artifacts import UnknownArtifact, load_artifact
from config.errors import LifeboatError
from recovery.models import Deployment, EscapeHatchBuild

TEMPLATES = Path(settings.BASE_DIR) / "templates" / "escape_hatch"

# (key, contract role, function, what the page does with it). Reads first, then the two writes.
CALLS: tuple[tuple[str, str, str, str], ...] = (
    ("vault.paused", "vault", "paused", "Reads whether the vault is paused (withdrawals stop until it is unpaused)."),
    ("vault.isShutdown", "vault", "isShutdown", "Reads whether the vault was shut down (emergency withdraw is open)."),
    ("vault.balanceOf", "vault", "balanceOf", "Reads how many vault shares your account holds."),
    ("vault.convertToAssets", "vault", "convertToAssets", "Reads what your shares are worth in the asset."),
    ("vault.decimals", "vault", "decimals", "Reads the decimals of vault shares, to show amounts."),
    ("asset.symbol", "asset", "symbol", "Reads the asset's symbol."),
    ("asset.decimals", "asset", "decimals", "Reads the asset's decimals, to show amounts."),
    (
        "vault.redeem",
        "vault",
        "redeem",
        "Sends a transaction from your wallet: burns all your shares and sends what they are worth to you "
        "(the normal withdraw, while the vault is neither paused nor shut down).",
    ),
    (
        "vault.emergencyWithdraw",
        "vault",
        "emergencyWithdraw",
        "Sends a transaction from your wallet: after a shutdown, burns all your shares and sends your share "
        "of the collateral to you (works even while the vault is paused).",
    ),
)


class EscapeHatchUnavailable(LifeboatError):
    """The deployment lacks what the page needs (a vault and its asset, or a call in their ABI)."""

    code = "escape_hatch_unavailable"
    status = 409


@dataclass(frozen=True, slots=True)
class BuiltFile:
    build: EscapeHatchBuild
    path: Path
    created: bool  # False: the same bytes were built and recorded before


@dataclass(frozen=True, slots=True)
class Verification:
    path: Path
    sha256: str
    size: int
    matches: list[EscapeHatchBuild]  # records with this very hash
    same_name: list[EscapeHatchBuild]  # records with the file's name (whatever their hash)

    @property
    def ok(self) -> bool:
        return bool(self.matches)


def file_name(deployment: Deployment) -> str:
    """``lifeboat-escape-hatch-<chain id>-<vault address>.html``: the same for every rebuild."""
    return f"lifeboat-escape-hatch-{deployment.chain_id}-{_contract(deployment, 'vault')['address'].lower()}.html"


def default_out_dir() -> Path:
    return Path(settings.VAR_DIR) / "escape-hatch"


def page_config(deployment: Deployment) -> dict[str, Any]:
    """What the page bakes in: chain id, contracts, and each call's signature, selector and ABI fragment."""
    contracts = {role: _contract(deployment, role) for role in ("vault", "asset")}
    functions = {}
    for key, role, name, purpose in CALLS:
        fragment = _function_abi(contracts[role]["artifact"], name)
        functions[key] = {
            "contract": role,
            "signature": abi_to_signature(fragment),
            "selector": "0x" + function_abi_to_4byte_selector(fragment).hex(),
            "inputs": [item["type"] for item in fragment["inputs"]],
            "output": fragment["outputs"][0]["type"] if fragment["outputs"] else "",
            "writes": fragment.get("stateMutability") not in ("view", "pure"),
            "purpose": purpose,
            "abi": json.dumps(fragment, sort_keys=True, separators=(",", ":")),
        }
    errors = {}
    for entry in load_artifact(contracts["vault"]["artifact"]).abi:
        if entry.get("type") == "error":
            as_function = {**entry, "type": "function"}
            errors["0x" + function_abi_to_4byte_selector(as_function).hex()] = abi_to_signature(as_function)
    return {
        "chainId": str(deployment.chain_id),
        "contracts": contracts,
        "functions": functions,
        "errors": dict(sorted(errors.items())),
    }


def render_escape_hatch(deployment: Deployment) -> bytes:
    """The page's bytes for ``deployment``; the same bytes every time for the same deployment."""
    config = page_config(deployment)
    script = (TEMPLATES / "hatch.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "hatch.css").read_text(encoding="utf-8")
    csp = "; ".join(
        (
            "default-src 'none'",
            f"script-src '{_csp_hash(script)}'",
            f"style-src '{_csp_hash(style)}'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    html = render_to_string(
        "escape_hatch/page.html",
        {
            "config": config,
            "chain_id": config["chainId"],
            "contracts": config["contracts"],
            "calls": [{"key": key, **config["functions"][key]} for key, *_ in CALLS],
            "errors": config["errors"],
            "file_name": file_name(deployment),
            "csp": csp,
            "script": mark_safe(script),  # noqa: S308  (our own file, hashed into the CSP as it is)
            "style": mark_safe(style),  # noqa: S308
        },
    )
    return html.encode("utf-8")


@transaction.atomic
def record_build(
    *, deployment: Deployment, path: Path, content: bytes, created_by: Any = None
) -> tuple[EscapeHatchBuild, bool]:
    """Record the build of ``content`` at ``path``; an identical earlier build is returned, not doubled."""
    digest = hashlib.sha256(content).hexdigest()
    existing = EscapeHatchBuild.objects.filter(deployment=deployment, sha256=digest).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            build = EscapeHatchBuild.objects.create(
                deployment=deployment,
                name=path.name,
                path=str(path),
                sha256=digest,
                size=len(content),
                created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
            )
    except IntegrityError:  # built at the same moment by someone else: theirs is the record
        return EscapeHatchBuild.objects.get(deployment=deployment, sha256=digest), False
    return build, True


def build_escape_hatch(*, deployment: Deployment, out_dir: Path | None = None, created_by: Any = None) -> BuiltFile:
    """Write the deployment's escape-hatch file into ``out_dir`` (default ``var/escape-hatch/``) and record it.

    The file is written to a temporary name in the same folder and renamed, so a reader never sees
    half a file; a folder that cannot be written raises ``EscapeHatchUnavailable`` naming it.
    """
    content = render_escape_hatch(deployment)
    folder = Path(out_dir) if out_dir is not None else default_out_dir()
    path = folder / file_name(deployment)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".escape-hatch-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as output:
                output.write(content)
            os.chmod(temporary, 0o644)  # a page to publish: world-readable on purpose
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise EscapeHatchUnavailable(
            f"cannot write the escape-hatch file into {folder}: {error.strerror or error}; pass --out with a "
            "folder you can write to",
            field="out",
        ) from None
    build, created = record_build(deployment=deployment, path=path.resolve(), content=content, created_by=created_by)
    return BuiltFile(build=build, path=path, created=created)


def verify_escape_hatch(path: Path) -> Verification:
    """Recompute the SHA-256 of a copy of the page and find the builds recorded with it."""
    content = Path(path).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    matches = list(EscapeHatchBuild.objects.filter(sha256=digest).select_related("deployment"))
    same_name = list(EscapeHatchBuild.objects.filter(name=Path(path).name).select_related("deployment"))
    return Verification(path=Path(path), sha256=digest, size=len(content), matches=matches, same_name=same_name)


def list_builds() -> list[EscapeHatchBuild]:
    return list(EscapeHatchBuild.objects.select_related("deployment", "created_by"))


# --- helpers ---


def _contract(deployment: Deployment, role: str) -> dict[str, str]:
    row = next((c for c in deployment.contracts.all() if c.role == role), None)
    if row is None:
        raise EscapeHatchUnavailable(
            f"deployment {deployment.pk} has no {role} recorded: the escape hatch needs a vault and its asset",
            field="deployment",
        )
    return {"address": to_checksum_address(row.address), "artifact": row.name}


def _function_abi(artifact: str, name: str) -> dict[str, Any]:
    try:
        abi = load_artifact(artifact).abi
    except UnknownArtifact:
        raise EscapeHatchUnavailable(
            f"there is no compiled artifact {artifact!r} to take the ABI of {name} from"
        ) from None
    found = [entry for entry in abi if entry.get("type") == "function" and entry.get("name") == name]
    if len(found) != 1:
        raise EscapeHatchUnavailable(
            f"{artifact}'s ABI has {len(found)} functions named {name}: the escape hatch needs exactly one"
        )
    return found[0]


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
