"""Recovery plans: allocation, the per-account allocation tree, migration batches and their
commitment, and parameter changes — built from a completed impact analysis.

A plan is one version: building again makes version n+1; nothing here changes a plan once
stored. Every write happens in one transaction after all validation, so a refused plan
leaves nothing behind.
"""

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from eth_abi import encode
from eth_utils import keccak

from chain.artifacts import load_artifact
from recovery.allocation import AllocationError, allocate
from recovery.batching import BatchingError, estimate_batch_gas, plan_batches
from recovery.commitment import build_commitment
from recovery.diff import AccountDelta
from recovery.exceptions import AnalysisNotComplete, AnalysisNotFound, InvalidInput, PlanNotFound
from recovery.merkle import StandardMerkleTree
from recovery.models import (
    AccountImpact,
    Allocation,
    AnalysisStatus,
    ImpactAnalysis,
    ImpactKind,
    Incident,
    IncidentStatus,
    MigrationBatch,
    PlanAsset,
    PlanMode,
    PlanPolicy,
    RecoveryPlan,
)
from recovery.parameters import ParameterError, decode_call, encode_call, function_signatures
from recovery.storage import bulk_insert
from recovery.validation import parse_address, parse_addresses, parse_amount

ALLOCATION_LEAF_ENCODING = ("address", "uint256")

# Gas of RecoveryExecutor.executeBatch per batch and per recipient (a fresh holder costs a new
# storage slot). Measured on anvil with the demo tokens: about 28-29k a fresh recipient over an
# 80k base; tests/recovery/test_plans.py runs stored plans on chain and checks every batch's
# estimate bounds the gas it used.
GAS_BASE = 80_000
GAS_PER_NEW_RECIPIENT = 32_000
GAS_PER_EXISTING_RECIPIENT = 15_000


@dataclass(frozen=True, slots=True)
class AssetBudget:
    asset: str
    budget: int | None
    payout_token: str


def build_plan(
    *,
    analysis_id: int,
    mode: str,
    policy: str,
    budgets: Mapping[str, Any] | None = None,
    payout_tokens: Mapping[str, str] | None = None,
    exclusions: Sequence[str] = (),
    dust_threshold: Any = 0,
    parameter_changes: Sequence[Mapping[str, Any]] = (),
    gas_ceiling: int = 10_000_000,
    claims: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> RecoveryPlan:
    """Allocate every tracked asset of a completed analysis and store the plan's next version.

    ``claims`` replaces the analysis' computed claims of an asset with an explicit list of
    ``{"account", "amount"}`` (as Compound's proposal 65 passed an account/amount list): each
    amount is the account's loss (restitute) or balance to restore (restore).
    """
    try:
        analysis = ImpactAnalysis.objects.select_related("incident").get(pk=analysis_id)
    except ImpactAnalysis.DoesNotExist:
        raise AnalysisNotFound(f"there is no impact analysis {analysis_id}", analysis=analysis_id) from None
    if analysis.status != AnalysisStatus.COMPLETED:
        raise AnalysisNotComplete(
            f"impact analysis {analysis_id} is {analysis.status}: plans are built from completed analyses",
            analysis=analysis_id,
        )
    if mode not in PlanMode.values:
        raise InvalidInput(f"mode {mode!r} is not one of {', '.join(PlanMode.values)}", field="mode")
    if policy not in PlanPolicy.values:
        raise InvalidInput(f"policy {policy!r} is not one of {', '.join(PlanPolicy.values)}", field="policy")
    if isinstance(gas_ceiling, bool) or not isinstance(gas_ceiling, int) or gas_ceiling <= GAS_BASE:
        raise InvalidInput(f"gas_ceiling must be an integer above {GAS_BASE}", field="gas_ceiling")
    dust = parse_amount(dust_threshold, field="dust_threshold")
    excluded = parse_addresses(list(exclusions), field="exclusions")
    assets = _asset_budgets(analysis, policy=policy, budgets=budgets or {}, payout_tokens=payout_tokens or {})
    calls = _encode_parameter_changes(parameter_changes)
    explicit = _parse_claims(claims or {}, tracked=[entry.asset for entry in assets])
    all_excluded = list(dict.fromkeys([*excluded, *analysis.incident.exploiter_addresses]))

    built = []
    for entry in assets:
        if entry.asset in explicit:
            # An explicit claim reads as "held `amount` at the rollback block, nothing now".
            deltas = [AccountDelta(account, entry.asset, amount, 0) for account, amount in explicit[entry.asset]]
        else:
            deltas = [
                AccountDelta(row.account, row.asset, row.before, row.after)
                for row in AccountImpact.objects.filter(
                    analysis=analysis, asset=entry.asset, kind=ImpactKind.BALANCE
                ).order_by("account")
            ]
        try:
            result = allocate(
                mode=mode,
                policy=policy,
                deltas=deltas,
                budget=entry.budget,
                exclusions=all_excluded,
                dust_threshold=dust,
            )
        except AllocationError as error:
            raise InvalidInput(f"{entry.asset}: {error}", field="budgets", asset=entry.asset) from None
        paid = [(a.account, a.amount) for a in result.allocations if a.amount > 0]
        tree = (
            StandardMerkleTree.of([[account, amount] for account, amount in paid], ALLOCATION_LEAF_ENCODING)
            if paid
            else None
        )
        # A recipient already holding the payout token costs less gas than a fresh one. Paying
        # the asset itself, holders are those left with a balance; a migrated token starts empty.
        holders = [d.account for d in deltas if d.after > 0] if entry.payout_token == entry.asset else []
        try:
            batches = plan_batches(
                allocations=paid,
                gas_ceiling=gas_ceiling,
                gas_base=GAS_BASE,
                gas_per_new_recipient=GAS_PER_NEW_RECIPIENT,
                gas_per_existing_recipient=GAS_PER_EXISTING_RECIPIENT,
                existing=holders,
            )
        except BatchingError as error:
            raise InvalidInput(str(error), field="gas_ceiling") from None
        commitment = build_commitment(batches) if batches else None
        built.append((entry, result, paid, tree, batches, commitment, holders))

    with transaction.atomic():
        version = (RecoveryPlan.objects.filter(incident=analysis.incident).aggregate(v=Max("version"))["v"] or 0) + 1
        plan = RecoveryPlan.objects.create(
            incident=analysis.incident,
            analysis=analysis,
            version=version,
            mode=mode,
            policy=policy,
            exclusions=all_excluded,
            dust_threshold=dust,
            parameter_changes=calls,
            gas_ceiling=gas_ceiling,
            created_by=created_by,
        )
        summary = {}
        for entry, result, paid, tree, batches, commitment, holders in built:
            plan_asset = PlanAsset.objects.create(
                plan=plan,
                asset=entry.asset,
                payout_token=entry.payout_token,
                budget=entry.budget,
                total_claims=result.total_claims,
                total_allocated=result.total_allocated,
                dust_count=result.dust_count,
                dust_total=result.dust_total,
                allocation_root=tree.root if tree else "",
                commitment_root=commitment.root if commitment else "",
                onchain_plan_id=onchain_plan_id(
                    chain_id=analysis.incident.chain_id, plan_id=plan.pk, asset=entry.asset
                ),
                allocation_dump=tree.dump() if tree else None,
                allocation_nodes=tree.node_bytes() if tree else None,
            )
            batch_of = {account.lower(): batch.index for batch in batches for account in batch.recipients}
            bulk_insert(
                Allocation,
                ["plan_asset", "account", "claim", "amount", "leaf_index", "tree_index", "batch_index"],
                (
                    (
                        plan_asset.pk,
                        a.account,
                        a.claim,
                        a.amount,
                        i,
                        tree.tree_index(i),
                        batch_of.get(a.account.lower()),
                    )
                    for i, a in enumerate(a for a in result.allocations if a.amount > 0)
                ),
            )
            MigrationBatch.objects.bulk_create(
                MigrationBatch(
                    plan_asset=plan_asset,
                    index=batch.index,
                    recipients=list(batch.recipients),
                    amounts=[str(amount) for amount in batch.amounts],
                    total=batch.total,
                    leaf_hash=commitment.leaf_hash(list(commitment.values[batch.index])),
                    gas_estimate=estimate_batch_gas(
                        recipients=batch.recipients,
                        gas_base=GAS_BASE,
                        gas_per_new_recipient=GAS_PER_NEW_RECIPIENT,
                        gas_per_existing_recipient=GAS_PER_EXISTING_RECIPIENT,
                        existing=holders,
                    ),
                )
                for batch in batches
            )
            summary[entry.asset] = {
                "budget": None if entry.budget is None else str(entry.budget),
                "payout_token": entry.payout_token,
                "recipients": len(paid),
                "total_claims": str(result.total_claims),
                "total_allocated": str(result.total_allocated),
                "excluded": [{"account": e.account, "claim": str(e.claim)} for e in result.excluded],
                "dust_count": result.dust_count,
                "dust_total": str(result.dust_total),
                "surplus": str(result.surplus),
                "batches": len(batches),
                "allocation_root": plan_asset.allocation_root,
                "commitment_root": plan_asset.commitment_root,
                "onchain_plan_id": str(plan_asset.onchain_plan_id),
            }
        plan.summary = {"assets": summary, "parameter_changes": len(calls)}
        plan.save(update_fields=["summary"])
        Incident.objects.filter(
            pk=analysis.incident_id, status__in=[IncidentStatus.OPEN, IncidentStatus.ANALYSING]
        ).update(status=IncidentStatus.PLANNING)
    return plan


def onchain_plan_id(*, chain_id: int, plan_id: int, asset: str) -> int:
    """The RecoveryExecutor plan id of one asset of a plan: unique per chain, plan and asset."""
    return int.from_bytes(
        keccak(encode(["string", "uint256", "uint256", "address"], ["lifeboat", chain_id, plan_id, asset])), "big"
    )


def _asset_budgets(
    analysis: ImpactAnalysis, *, policy: str, budgets: Mapping[str, Any], payout_tokens: Mapping[str, str]
) -> list[AssetBudget]:
    tracked = {asset.lower(): asset for asset in analysis.tracked_assets}
    for key in [*budgets, *payout_tokens]:
        address = parse_address(key, field="budgets")
        if address.lower() not in tracked:
            raise InvalidInput(f"{address} is not an asset of analysis {analysis.pk}", field="budgets")
    entries = []
    for asset in analysis.tracked_assets:
        raw = budgets.get(asset)
        budget = None if raw is None else parse_amount(raw, field=f"budgets[{asset}]")
        if policy == PlanPolicy.PRO_RATA and budget is None:
            raise InvalidInput(f"a pro-rata plan needs a budget for {asset}", field="budgets")
        payout = parse_address(payout_tokens[asset], field="payout_tokens") if asset in payout_tokens else asset
        entries.append(AssetBudget(asset=asset, budget=budget, payout_token=payout))
    return entries


def _parse_claims(claims: Mapping[str, Any], *, tracked: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """``{asset: [{"account", "amount"}, ...]}`` checked: tracked assets, checksummed accounts
    listed once each, uint256 amounts."""
    if not isinstance(claims, Mapping):
        raise InvalidInput("claims must map asset addresses to lists of {account, amount}", field="claims")
    parsed = {}
    for key, entries in claims.items():
        asset = parse_address(key, field="claims")
        if asset not in tracked:
            raise InvalidInput(f"claims: {asset} is not an asset of this analysis", field="claims")
        if not isinstance(entries, list | tuple) or not entries:
            raise InvalidInput(f"claims for {asset} must be a non-empty list of {{account, amount}}", field="claims")
        seen: dict[str, int] = {}
        rows = []
        for line, entry in enumerate(entries, start=1):
            if not isinstance(entry, Mapping) or set(entry) != {"account", "amount"}:
                raise InvalidInput(f"claims for {asset}, entry {line}: expected {{account, amount}}", field="claims")
            account = parse_address(entry["account"], field=f"claims entry {line} account")
            if account in seen:
                raise InvalidInput(
                    f"claims for {asset}: {account} is listed twice (entries {seen[account]} and {line}); "
                    "merge them into one entry",
                    field="claims",
                )
            seen[account] = line
            rows.append((account, parse_amount(entry["amount"], field=f"claims entry {line} amount")))
        parsed[asset] = rows
    return parsed


def read_claims_csv(text: str) -> list[dict[str, str]]:
    """Rows of a claims CSV with the header ``account,amount`` (amounts in base units)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [name.strip() for name in reader.fieldnames] != ["account", "amount"]:
        raise InvalidInput("a claims CSV starts with the header line `account,amount`", field="claims")
    return [{"account": (row["account"] or "").strip(), "amount": (row["amount"] or "").strip()} for row in reader]


def _encode_parameter_changes(changes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each change as ``{target, signature, args, value}``, or with ``artifact`` and ``function``
    naming a compiled contract's function instead of a signature."""
    encoded = []
    for index, change in enumerate(changes):
        if not isinstance(change, Mapping):
            raise InvalidInput(f"parameter_changes[{index}] must be an object", field="parameter_changes")
        try:
            signature = change.get("signature") or _signature_from_artifact(change)
            call = encode_call(
                target=change.get("target"),
                signature=signature,
                args=change.get("args", []),
                value=change.get("value", 0),
            )
        except ParameterError as error:
            raise InvalidInput(f"parameter_changes[{index}]: {error}", field="parameter_changes") from None
        encoded.append(call.as_json())
    return encoded


def _signature_from_artifact(change: Mapping[str, Any]) -> str:
    name, function = change.get("artifact"), change.get("function")
    if not name or not function:
        raise ParameterError("give a signature, or an artifact and a function name")
    try:
        abi = load_artifact(str(name)).abi
    except FileNotFoundError:
        raise ParameterError(f"there is no compiled contract {name!r}") from None
    matches = [sig for sig in function_signatures(abi).values() if sig.split("(", 1)[0] == function]
    if len(matches) != 1:
        found = "no function" if not matches else f"{len(matches)} overloads ({', '.join(matches)})"
        raise ParameterError(f"{name} has {found} named {function!r}: give the signature")
    return matches[0]


def decode_parameter_change(
    *, calldata: str, abi: list[dict[str, Any]] | None = None, artifact: str | None = None, signature: str | None = None
) -> dict[str, Any]:
    """A call decoded for display, by its signature, a pasted ABI or a compiled contract's ABI."""
    try:
        if artifact:
            try:
                abi = load_artifact(artifact).abi
            except FileNotFoundError:
                raise ParameterError(f"there is no compiled contract {artifact!r}") from None
        if abi is None and signature is None:
            raise ParameterError("give a signature, an ABI or an artifact name to decode with")
        return decode_call(calldata=calldata, abi=abi, signature=signature).as_json()
    except ParameterError as error:
        raise InvalidInput(str(error), field="calldata") from None


def get_plan(plan_id: int) -> RecoveryPlan:
    try:
        return RecoveryPlan.objects.select_related("incident", "analysis").get(pk=plan_id)
    except RecoveryPlan.DoesNotExist:
        raise PlanNotFound(f"there is no recovery plan {plan_id}", plan=plan_id) from None
