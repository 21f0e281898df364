"""The proposal document: canonical JSON, its content hash, and the Markdown body for voters.

The only home of canonical JSON and the content hash. Pure: plain data in, plain data out; no
Django, no database, no chain.

- **Canonical JSON** is RFC 8785 (JCS), through PyPI's ``rfc8785``: object keys sorted by
  UTF-16 code units, no whitespace, strings escaped minimally, UTF-8. Floats are refused
  (money is never a float), and so is any integer beyond +-(2**53 - 1), which JSON readers
  cannot hold exactly: amounts, chain ids and on-chain ids travel as decimal strings; only
  small counts, versions and block numbers are JSON numbers.
- **Content hash** is ``0x`` + hex keccak256 of the canonical bytes.
- **The document** (schema ``lifeboat-proposal/2``) describes one plan version: the incident,
  the impact analysis with its block hashes, the impact summary, the plan (policy, budgets,
  dust, exclusions with reasons, protocol contracts excluded by default), each parameter change
  decoded, the delivery (push, push with the claimable fallback, pull) with its claim deadline,
  the incident key and the RecoveryExecutor the batch leaves are bound to, and per asset the
  payout token, batch count, the gas of pushing against that of every holder claiming, what
  earlier plan versions already paid, commitment and allocation roots, the
  on-chain plan id and the hash of the allocation tree dump (the dump itself is served apart,
  at ``/api/plans/{id}/assets/{asset}/tree/``; its hash is what the content hash covers).
  It holds no timestamps and no database-only facts, so freezing the same plan again rebuilds
  the same bytes.
- **The rehearsal is not in the document.** A frozen document never changes, and the
  rehearsal (a run on a fork) happens after freezing: its report is attached alongside the
  document and names the document's content hash, never the other way round. The Markdown body
  is a rendering of the document plus that status (``render_markdown(..., rehearsal=...)``), so
  it is not hashed: the hash is over ``document.json`` alone.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from eth_utils import keccak

SCHEMA = "lifeboat-proposal/2"
MAX_JSON_INT = 2**53 - 1


class DocumentError(ValueError):
    """The data cannot make a canonical document (a float, an integer JSON cannot hold, ...)."""


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical bytes of ``obj``; refuses floats and integers past 2**53 - 1."""
    _refuse_inexact(obj, path="$")
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as error:
        raise DocumentError(f"not canonicalisable: {error}") from None


def content_hash(canonical: bytes) -> str:
    """``0x`` + keccak256 of the canonical bytes, lowercase hex."""
    return "0x" + keccak(canonical).hex()


def _refuse_inexact(obj: Any, *, path: str) -> None:
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, float):
        raise DocumentError(f"{path} is a float ({obj!r}): amounts are integers, written as decimal strings")
    if isinstance(obj, int):
        if abs(obj) > MAX_JSON_INT:
            raise DocumentError(f"{path} is {obj}, beyond 2**53 - 1: write it as a decimal string")
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise DocumentError(f"{path} has a key that is not a string: {key!r}")
            _refuse_inexact(value, path=f"{path}.{key}")
        return
    if isinstance(obj, list | tuple):
        for index, value in enumerate(obj):
            _refuse_inexact(value, path=f"{path}[{index}]")
        return
    raise DocumentError(f"{path} is a {type(obj).__name__}, not JSON")


# --- the facts a document is built from (the service loads them from the database) ---


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    id: int
    title: str
    kind: str
    chain_id: int
    description: str = ""
    affected_contracts: Sequence[str] = ()
    affected_tokens: Sequence[str] = ()
    exploiters: Sequence[str] = ()
    exploit_transactions: Sequence[str] = ()
    detected_block: int | None = None


@dataclass(frozen=True, slots=True)
class AnalysisFacts:
    id: int
    rollback_block: int
    rollback_block_hash: str
    reference_block: int
    reference_block_hash: str
    from_block: int
    from_block_hash: str
    node_chain_id: int | None
    unconfirmed: bool
    tracked_assets: Sequence[str]
    summary: Mapping[str, Any]  # ImpactAnalysis.summary


@dataclass(frozen=True, slots=True)
class AssetFacts:
    asset: str
    payout_token: str
    budget: int | None
    total_claims: int
    total_allocated: int
    dust_count: int
    dust_total: int
    allocation_root: str
    commitment_root: str
    onchain_plan_id: int | None
    batch_count: int
    allocation_dump: Mapping[str, Any] | None  # StandardMerkleTree standard-v1 dump, or None
    venue: str = ""  # restore_positions: the migrated margin market the positions are re-created on


@dataclass(frozen=True, slots=True)
class PlanFacts:
    id: int
    version: int
    mode: str
    policy: str
    gas_ceiling: int
    dust_threshold: int
    exclusions: Sequence[str]
    parameter_changes: Sequence[Mapping[str, Any]]  # {target, value, calldata, signature, args}
    summary: Mapping[str, Any]  # RecoveryPlan.summary
    assets: Sequence[AssetFacts] = field(default_factory=tuple)
    incident_key: str = ""  # 0x-hex, recovery.plans.incident_key
    delivery: str = "push"  # push, push_fallback, pull
    claim_deadline: int | None = None  # pull: unix timestamp
    recovery_executor: str = ""  # EIP-55: the contract the batch leaves are bound to
    auto_execute: bool = False
    cap: tuple[int, int] | None = None  # pro rata: each payment at most claim * numerator // denominator
    second_class: Sequence[str] = ()  # pro rata: paid only from what the others leave


@dataclass(frozen=True, slots=True)
class RehearsalStatus:
    """What the body says about the rehearsal; ``None`` in ``render_markdown`` means not yet run."""

    passed: bool
    report_hash: str = ""
    summary: str = ""


# Fields of an impact summary (recovery/diff.py ``ImpactSummary.as_json``) the document keeps.
_IMPACT_FIELDS = (
    "accounts_seen",
    "affected",
    "losers",
    "gainers",
    "total_losses",
    "total_gains",
    "exploiter_gains",
    "exploiter_losses",
    "other_gains",
    "net_change",
    "top_losers",
    "quote",
    "value_decimals",
    "total_losses_value",
    "exploiter_gains_value",
)


def allocation_tree_hash(dump: Mapping[str, Any] | None) -> str | None:
    """keccak256 of the canonical JSON of a ``standard-v1`` allocation tree dump."""
    return None if dump is None else content_hash(canonical_json(dump))


def build_document(*, incident: IncidentFacts, analysis: AnalysisFacts, plan: PlanFacts) -> dict[str, Any]:
    """The document dict of one plan version (see the module docstring for what it holds)."""
    decimals = {str(k): int(v) for k, v in (analysis.summary.get("decimals") or {}).items()}
    impact_assets = analysis.summary.get("assets") or {}
    plan_assets = plan.summary.get("assets") or {}
    contracts = plan.summary.get("contracts") or {}
    # The reasons recovery/plans.py gives, in its order of precedence: an exploiter named in the
    # incident, then the reason an asset's allocation stated, then a contract excluded by default.
    # Keyed by lowercase address: the incident may hold addresses as they were typed.
    reasons = dict.fromkeys((a.lower() for a in incident.exploiters), "exploiter named in the incident")
    for entry in plan_assets.values():
        for excluded in entry.get("excluded", []):
            reasons.setdefault(excluded["account"].lower(), excluded["reason"])
    for entry in contracts.get("excluded_by_default", []):
        reasons.setdefault(entry["account"].lower(), entry["reason"])
    return {
        "schema": SCHEMA,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "kind": incident.kind,
            "description": incident.description,
            "chain_id": str(incident.chain_id),
            "affected_contracts": list(incident.affected_contracts),
            "affected_tokens": list(incident.affected_tokens),
            "exploiters": list(incident.exploiters),
            "exploit_transactions": list(incident.exploit_transactions),
            "detected_block": incident.detected_block,
        },
        "analysis": {
            "id": analysis.id,
            "node_chain_id": None if analysis.node_chain_id is None else str(analysis.node_chain_id),
            "unconfirmed": analysis.unconfirmed,
            "rollback_block": {"number": analysis.rollback_block, "hash": analysis.rollback_block_hash},
            "reference_block": {"number": analysis.reference_block, "hash": analysis.reference_block_hash},
            "from_block": {"number": analysis.from_block, "hash": analysis.from_block_hash},
            "tracked_assets": list(analysis.tracked_assets),
            "warnings": list(analysis.summary.get("warnings") or []),
            "price": analysis.summary.get("price"),
        },
        "impact": {
            asset: {
                "decimals": decimals.get(asset),
                **{key: summary[key] for key in _IMPACT_FIELDS if key in summary},
            }
            for asset, summary in impact_assets.items()
        },
        "plan": {
            "id": plan.id,
            "version": plan.version,
            "mode": plan.mode,
            "policy": plan.policy,
            "gas_ceiling": str(plan.gas_ceiling),
            "dust_threshold": str(plan.dust_threshold),
            "incident_key": plan.incident_key,
            "delivery": plan.delivery,
            "claim_deadline": plan.claim_deadline,
            "recovery_executor": plan.recovery_executor,
            "auto_execute": plan.auto_execute,
            "exclusions": [
                {"account": account, "reason": reasons.get(account.lower(), "excluded by the plan")}
                for account in plan.exclusions
            ],
            "contracts_excluded_by_default": list(contracts.get("excluded_by_default", [])),
            "contracts_included": list(contracts.get("included", [])),
            # Only when set, so a plan without them keeps the document (and content hash) it always had.
            **({"cap": {"numerator": str(plan.cap[0]), "denominator": str(plan.cap[1])}} if plan.cap else {}),
            **({"second_class": list(plan.second_class)} if plan.second_class else {}),
        },
        "parameter_changes": [
            {
                "index": index,
                "target": change["target"],
                "value": str(change.get("value", "0")),
                "signature": change["signature"],
                "args": change.get("args", []),
                "calldata": change["calldata"],
            }
            for index, change in enumerate(plan.parameter_changes)
        ],
        "assets": [_asset_entry(entry, plan_assets.get(entry.asset, {}), decimals) for entry in plan.assets],
    }


def _asset_entry(entry: AssetFacts, summary: Mapping[str, Any], decimals: Mapping[str, int]) -> dict[str, Any]:
    asset_decimals = summary.get("decimals", decimals.get(entry.asset))
    return {
        "asset": entry.asset,
        "decimals": asset_decimals,
        "payout_token": entry.payout_token,
        "payout_decimals": summary.get("payout_decimals", asset_decimals),
        "budget": None if entry.budget is None else str(entry.budget),
        "total_claims": str(entry.total_claims),
        "total_allocated": str(entry.total_allocated),
        "recipients": summary.get("recipients"),
        "dust_count": entry.dust_count,
        "dust_total": str(entry.dust_total),
        "surplus": summary.get("surplus"),
        "excluded": list(summary.get("excluded", [])),
        "batch_count": entry.batch_count,
        "gas": dict(summary["gas"]) if summary.get("gas") else None,
        "paid_by_earlier_versions": dict(summary["paid_by_earlier_versions"])
        if summary.get("paid_by_earlier_versions")
        else None,
        "commitment_root": entry.commitment_root,
        "allocation_root": entry.allocation_root,
        "onchain_plan_id": None if entry.onchain_plan_id is None else str(entry.onchain_plan_id),
        # Only a restore-positions asset has these: other documents keep their exact content.
        **({"venue": entry.venue, "positions": summary.get("positions")} if entry.venue else {}),
        "allocation_tree": None
        if entry.allocation_dump is None
        else {
            "format": entry.allocation_dump.get("format"),
            "leaf_encoding": list(entry.allocation_dump.get("leafEncoding", [])),
            "hash": allocation_tree_hash(entry.allocation_dump),
        },
    }


# --- the Markdown body ---

_DELIVERY_TEXT = {
    "push": "pushed: the executor sends every batch; a recipient the token refuses fails its whole batch",
    "push_fallback": (
        "pushed with the claimable fallback: the executor sends every batch; a recipient the token refuses is "
        "credited instead and claims it later (claimCredit / withdrawCredit)"
    ),
    "pull": "pull: each holder claims their own allocation leaf on the RecoveryExecutor (claim)",
}


def _delivery_lines(document: Mapping[str, Any]) -> list[str]:
    """Delivery, claim deadline, the incident key and the gas of push against pull, per asset."""
    plan = document["plan"]
    out = [
        f"Delivery: {_DELIVERY_TEXT.get(plan['delivery'], plan['delivery'])}.",
        "",
        f"- RecoveryExecutor the batch leaves are bound to: {plan['recovery_executor'] or 'none'}",
        f"- incident key: {plan['incident_key']} (plan version {plan['version']}; approving a higher version "
        "supersedes every earlier one on chain)",
    ]
    if plan["delivery"] == "pull":
        out.append(
            f"- claim deadline: {plan['claim_deadline']} (unix time); governance may close the plan and recover "
            "what is unclaimed after it"
        )
    if plan.get("auto_execute"):
        out.append("- execution starts by itself once the plan is approved")
    out += ["", "Gas: pushing (paid by the executor) against every holder claiming (paid by the holders):", ""]
    for entry in document["assets"]:
        gas = entry.get("gas")
        if not gas:
            continue
        out.append(
            f"- {entry['asset']}: push about {gas['push']:,} gas in {gas['push_batches']} batch(es); pull about "
            f"{gas['pull']:,} gas, {gas['per_claim']:,} a claim for {entry['recipients']} recipients"
        )
    return out


def format_units(amount: int | str, decimals: int | None) -> str:
    """``amount`` base units as a decimal number with ``decimals`` places, exactly (no float).

    Thousands are grouped with commas; trailing zeros of the fraction are dropped.
    """
    value = int(amount)
    sign, value = ("-" if value < 0 else ""), abs(value)
    if not decimals:
        return f"{sign}{value:,}"
    whole, fraction = divmod(value, 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


def _amount(amount: int | str | None, decimals: int | None) -> str:
    if amount is None:
        return "none"
    return f"{format_units(amount, decimals)} ({amount} base units)"


def _bullets(lines: Iterable[str]) -> list[str]:
    items = [f"- {line}" for line in lines]
    return items or ["- none"]


def render_markdown(
    document: Mapping[str, Any],
    *,
    content_hash: str,
    document_url: str = "",
    rehearsal: RehearsalStatus | None = None,
) -> str:
    """The body voters read: a rendering of ``document`` (not hashed), ending with
    ``content-hash: 0x...``. ``document_url`` is where the exact bytes are served."""
    incident, analysis, plan = document["incident"], document["analysis"], document["plan"]
    out = [
        f"# Recovery proposal: {incident['title']} (plan version {plan['version']})",
        "",
        "## What happened",
        "",
        f"Incident {incident['id']} ({incident['kind']}) on chain id {incident['chain_id']}.",
    ]
    if incident["description"]:
        out += ["", incident["description"]]
    out += [
        "",
        *_bullets(
            [
                *(f"affected contract {a}" for a in incident["affected_contracts"]),
                *(f"affected token {a}" for a in incident["affected_tokens"]),
                *(f"exploiter {a}" for a in incident["exploiters"]),
                *(f"exploit transaction {tx}" for tx in incident["exploit_transactions"]),
            ]
        ),
    ]
    out += [
        "",
        "## Blocks",
        "",
        f"Impact analysis {analysis['id']}, read from a node serving chain id {analysis['node_chain_id']}"
        + (
            " (the reference block was UNCONFIRMED: within the confirmation depth of the head)."
            if analysis["unconfirmed"]
            else "."
        ),
        "",
        *(
            f"- {label}: {analysis[key]['number']}, hash {analysis[key]['hash']}"
            for label, key in (
                ("rollback block (last good)", "rollback_block"),
                ("reference block", "reference_block"),
                ("scan from block", "from_block"),
            )
        ),
    ]
    out += [f"- warning: {warning}" for warning in analysis["warnings"]]
    out += ["", "## Impact", ""]
    for asset, impact in document["impact"].items():
        dec = impact.get("decimals")
        out += [
            f"### {asset}",
            "",
            f"- accounts seen: {impact.get('accounts_seen')}, affected: {impact.get('affected')}, "
            f"losers: {impact.get('losers')}, gainers: {impact.get('gainers')}",
            f"- total losses: {_amount(impact.get('total_losses'), dec)}",
            f"- total gains: {_amount(impact.get('total_gains'), dec)}",
            f"- exploiter gains: {_amount(impact.get('exploiter_gains'), dec)}",
            f"- net change: {_amount(impact.get('net_change'), dec)}",
        ]
        for loser in impact.get("top_losers", []):
            out.append(f"- loser {loser['account']}: {_amount(loser['loss'], dec)}")
        out.append("")
    out += [
        "## Policy and budgets",
        "",
        f"Plan {plan['id']}, version {plan['version']}: mode `{plan['mode']}`, policy `{plan['policy']}`, "
        f"dust threshold {plan['dust_threshold']} base units, gas ceiling {plan['gas_ceiling']} a batch.",
        "",
    ]
    if plan.get("cap"):
        cap = plan["cap"]
        out += [
            f"Each payment is capped at its claim * {cap['numerator']} / {cap['denominator']}, rounded down.",
            "",
        ]
    if plan.get("second_class"):
        out += [
            "Second class, paid pro rata only from what the other claimants leave under the cap: "
            + ", ".join(plan["second_class"])
            + ".",
            "",
        ]
    for entry in document["assets"]:
        dec = entry["decimals"]
        budget = "full claims" if entry["budget"] is None else _amount(entry["budget"], dec)
        out.append(
            f"- {entry['asset']}: budget {budget}, "
            f"claims {_amount(entry['total_claims'], dec)}, allocated {_amount(entry['total_allocated'], dec)} "
            f"to {entry['recipients']} recipients, paid in {entry['payout_token']}"
            + (
                f"; their positions at the rollback block re-created on the migrated market {entry['venue']}"
                if entry.get("venue")
                else ""
            )
        )
    for entry in document["assets"]:
        earlier = entry.get("paid_by_earlier_versions") or {}
        if earlier.get("accounts"):
            out.append(
                f"- {entry['asset']}: net of {_amount(earlier['total'], entry['decimals'])} that earlier versions of "
                f"this plan already paid to {earlier['accounts']} accounts (read from the chain)"
            )
    out += ["", "## Delivery", ""]
    out += _delivery_lines(document)
    out += ["", "## Exclusions", ""]
    out += _bullets(f"{e['account']}: {e['reason']}" for e in plan["exclusions"])
    out += ["", "Protocol contracts excluded by default:", ""]
    out += _bullets(f"{e['account']}: {e['reason']}" for e in plan["contracts_excluded_by_default"])
    if plan["contracts_included"]:
        out += ["", "Protocol contracts included deliberately:", ""]
        out += _bullets(f"{e['account']}: {e['reason']}" for e in plan["contracts_included"])
    out += ["", "## Parameter changes", ""]
    if not document["parameter_changes"]:
        out.append("None.")
    for change in document["parameter_changes"]:
        args = ", ".join(str(arg) for arg in change["args"])
        out += [
            f"{change['index'] + 1}. `{change['signature']}` on {change['target']} with ({args}), "
            f"value {change['value']} wei",
            f"   calldata `{change['calldata']}`",
        ]
    out += ["", "## Batches and roots", ""]
    for entry in document["assets"]:
        tree = entry["allocation_tree"]
        pull = plan["delivery"] == "pull"
        out += [
            f"### {entry['asset']}",
            "",
            f"- batches: {entry['batch_count']}" + (" (pull: holders claim their allocation leaves)" if pull else ""),
            f"- commitment root{'' if pull else ' (what the vote approves)'}: {entry['commitment_root'] or 'none'}",
            f"- allocation root{' (what the vote approves)' if pull else ''}: {entry['allocation_root'] or 'none'}",
            f"- on-chain plan id: {entry['onchain_plan_id']}",
            f"- allocation tree dump hash: {tree['hash'] if tree else 'none (nothing allocated)'}",
            "",
        ]
    out += ["## Rehearsal", ""]
    if rehearsal is None:
        out.append(
            "Rehearsal: not yet run. Its report is attached to this document when it runs; "
            "it is not part of the content hash."
        )
    else:
        verdict = "passed" if rehearsal.passed else "FAILED"
        out.append(f"Rehearsal: {verdict}." + (f" {rehearsal.summary}" if rehearsal.summary else ""))
        if rehearsal.report_hash:
            out.append(f"Report hash: {rehearsal.report_hash}")
    where = document_url or "the proposal's document.json"
    out += [
        "",
        "## How to check",
        "",
        f"1. Download the document JSON exactly as served at {where} (`GET /api/proposals/{{id}}/document.json`). "
        "It is already RFC 8785 canonical JSON; if you rebuild it from the JSON, canonicalise it with RFC 8785 "
        "(JCS) first. Its keccak256, as 0x-hex, must equal the content hash below.",
        "2. Each asset's allocation tree dump (`GET /api/plans/{plan}/assets/{asset}/tree/`), canonicalised with "
        "RFC 8785 and hashed with keccak256, must equal its `allocation_tree.hash` in the document.",
        "3. Check your own allocation: `GET /api/plans/{plan}/accounts/{your address}/` gives your amount and its "
        "Merkle proof; verify it against the allocation root with OpenZeppelin's `StandardMerkleTree` "
        "(`@openzeppelin/merkle-tree`), leaf encoding `(uint256, address, uint256)`: "
        "`StandardMerkleTree.verify(root, ['uint256', 'address', 'uint256'], [leaf_index, address, amount], proof)` "
        "(a pull plan's claim takes exactly this leaf and proof).",
        "",
        f"content-hash: {content_hash}",
    ]
    return "\n".join(out) + "\n"
