"""Recovery plans: allocation, the per-account allocation tree, migration batches and their
commitment, and parameter changes — built from a completed impact analysis.

A plan is one version: building again makes version n+1; nothing here changes a plan once
stored. Every write happens in one transaction after all validation, so a refused plan
leaves nothing behind. A loss is paid once: protocol contracts (the incident's, vaults,
tracked tokens) are no claimants unless a plan includes one deliberately, and never while
the holders of what they back are paid too.
"""

import csv
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ParamSpec

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Max
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from chain.artifacts import UnknownArtifact, load_artifact
from chain.errors import ChainError, NotAnErc20
from chain.redaction import redact
from recovery.allocation import AllocationError, AllocationResult, allocate
from recovery.batching import BatchingError, estimate_batch_gas, plan_batches
from recovery.commitment import build_commitment
from recovery.diff import AccountDelta
from recovery.exceptions import (
    AnalysisNotComplete,
    AnalysisNotFound,
    ChainMismatch,
    ChainUnavailable,
    InvalidInput,
    PlanNotFound,
    PlanVersionConflict,
)
from recovery.fields import UINT256_MAX
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

P = ParamSpec("P")

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
    decimals: int | None = None  # the asset's, from the analysis (None: not recorded)
    payout_decimals: int | None = None  # the payout token's, read on chain when it is another token


@dataclass(frozen=True, slots=True)
class ContractExclusion:
    """A protocol contract left out of every claim unless the plan includes it deliberately."""

    account: str
    reason: str


def _sqlite_lock_as_conflict(build: Callable[P, RecoveryPlan]) -> Callable[P, RecoveryPlan]:
    """SQLite answers a writer it cannot wait for (its busy timeout spent, or the tests'
    shared-cache database, where nobody waits) with "database ... is locked": another build
    holds the write lock, a conflict to retry, not a server error. Anything else is a bug."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> RecoveryPlan:
        try:
            return build(*args, **kwargs)
        except OperationalError as error:
            if connection.vendor != "sqlite" or "locked" not in str(error):
                raise
            raise PlanVersionConflict(
                "another plan build holds the database; build again", analysis=kwargs.get("analysis_id")
            ) from None

    return wrapper


@_sqlite_lock_as_conflict
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
    include_contracts: Sequence[str] = (),
    created_by: AbstractBaseUser | None = None,
    rpc_url: str | None = None,
) -> RecoveryPlan:
    """Allocate every tracked asset of a completed analysis and store the plan's next version.

    ``claims`` replaces the analysis' computed claims of an asset with an explicit list of
    ``{"account", "amount"}`` (as Compound's proposal 65 passed an account/amount list): each
    amount is the account's loss (restitute) or balance to restore (restore).

    Protocol contracts are no claimants by default (see :func:`default_contract_exclusions`):
    what a vault holds is its share holders' money, already paid through their claims.
    ``include_contracts`` names default-excluded contracts to pay all the same; a plan that
    would then pay one loss twice (a token's holders *and* the token contract's own holding
    of another paid asset) is refused. The summary lists both.

    A payout token other than the asset has its ``decimals()`` read on chain (``rpc_url``,
    default ``settings.CHAIN_RPC_URL``) and must have the asset's decimals: amounts are the
    asset's base units, paid one for one.

    Concurrent builds for one incident are serialised on the incident row; a version taken
    meanwhile anyway (a database without row locks) raises :class:`PlanVersionConflict` (409).
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
    if isinstance(exclusions, str) or isinstance(include_contracts, str):
        raise InvalidInput("exclusions and include_contracts are lists of addresses", field="exclusions")
    excluded = parse_addresses(list(exclusions), field="exclusions")
    included = parse_addresses(list(include_contracts), field="include_contracts")
    assets = _asset_budgets(analysis, policy=policy, budgets=budgets or {}, payout_tokens=payout_tokens or {})
    calls = _encode_parameter_changes(parameter_changes)
    explicit = _parse_claims(claims or {}, tracked=[entry.asset for entry in assets])
    exploiters = [to_checksum_address(a) for a in analysis.incident.exploiter_addresses]
    defaults = default_contract_exclusions(analysis)
    for account in included:
        if account in excluded or account in exploiters:
            raise InvalidInput(
                f"include_contracts names {account}, which the plan also excludes as "
                f"{'an exploiter' if account in exploiters else 'one of its exclusions'}",
                field="include_contracts",
            )
        if account not in defaults:
            raise InvalidInput(
                f"include_contracts names {account}, which is not excluded by default "
                f"(those are: {', '.join(defaults) or 'none'})",
                field="include_contracts",
            )
    default_excluded = [account for account in defaults if account not in included]
    all_excluded = list(dict.fromkeys([*excluded, *exploiters, *default_excluded]))
    reasons = {
        **{account: defaults[account].reason for account in default_excluded},
        **dict.fromkeys(excluded, "excluded by the plan"),
        **dict.fromkeys(exploiters, "exploiter named in the incident"),
    }
    # Last of the checks: the only one that asks the chain.
    assets = _with_payout_decimals(analysis, assets, rpc_url=rpc_url or settings.CHAIN_RPC_URL)

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
        _check_sums(entry.asset, result, from_claims_list=entry.asset in explicit)
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
    _refuse_double_payment(built, included=included)

    return _store_plan(
        analysis=analysis,
        built=built,
        mode=mode,
        policy=policy,
        all_excluded=all_excluded,
        reasons=reasons,
        contracts={
            "excluded_by_default": [
                {"account": account, "reason": defaults[account].reason} for account in default_excluded
            ],
            "included": [
                {"account": account, "reason": f"included deliberately; by default {defaults[account].reason}"}
                for account in included
            ],
        },
        dust=dust,
        calls=calls,
        gas_ceiling=gas_ceiling,
        created_by=created_by,
    )


def _store_plan(
    *,
    analysis: ImpactAnalysis,
    built: list[tuple[Any, ...]],
    mode: str,
    policy: str,
    all_excluded: list[str],
    reasons: dict[str, str],
    contracts: dict[str, list[dict[str, str]]],
    dust: int,
    calls: list[dict[str, Any]],
    gas_ceiling: int,
    created_by: AbstractBaseUser | None,
) -> RecoveryPlan:
    """Write the plan, its assets, allocations and batches in one transaction, as the next version."""
    with transaction.atomic():
        # The incident row lock serialises concurrent builds: the next version is read under it.
        # (SQLite has no row locks; its IMMEDIATE transactions serialise the writers instead.)
        Incident.objects.select_for_update().filter(pk=analysis.incident_id).values_list("pk", flat=True).get()
        version = (RecoveryPlan.objects.filter(incident=analysis.incident).aggregate(v=Max("version"))["v"] or 0) + 1
        try:
            with transaction.atomic():
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
        except IntegrityError:
            # one_plan_per_version: a concurrent build took this version despite the lock.
            raise PlanVersionConflict(
                f"plan version {version} of incident {analysis.incident_id} was stored by another build "
                "meanwhile; build again",
                incident=analysis.incident_id,
                version=version,
            ) from None
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
                "decimals": entry.decimals,
                "payout_decimals": entry.payout_decimals if entry.payout_token != entry.asset else entry.decimals,
                "recipients": len(paid),
                "total_claims": str(result.total_claims),
                "total_allocated": str(result.total_allocated),
                "excluded": [
                    {"account": e.account, "claim": str(e.claim), "reason": reasons.get(e.account, "excluded")}
                    for e in result.excluded
                ],
                "dust_count": result.dust_count,
                "dust_total": str(result.dust_total),
                "surplus": str(result.surplus),
                "batches": len(batches),
                "allocation_root": plan_asset.allocation_root,
                "commitment_root": plan_asset.commitment_root,
                "onchain_plan_id": str(plan_asset.onchain_plan_id),
            }
        plan.summary = {"assets": summary, "parameter_changes": len(calls), "contracts": contracts}
        plan.save(update_fields=["summary"])
        Incident.objects.filter(
            pk=analysis.incident_id, status__in=[IncidentStatus.OPEN, IncidentStatus.ANALYSING]
        ).update(status=IncidentStatus.PLANNING)
    return plan


def default_contract_exclusions(analysis: ImpactAnalysis) -> dict[str, ContractExclusion]:
    """The protocol contracts a plan leaves out of every claim unless it includes them deliberately.

    A vault's holding of its underlying is what its share holders' shares are worth: paying
    the holders and the vault pays one loss twice. So are excluded, each with the reason shown
    in the plan: the contracts the incident names (``affected_contracts``), the contracts of
    the analysis' positions (a vault whose shares are valued in its underlying), and the
    tracked tokens' own contracts (a token contract holding another tracked asset holds it for
    its holders).
    """
    found: dict[str, ContractExclusion] = {}

    def add(address: str, reason: str) -> None:
        account = to_checksum_address(address)
        found.setdefault(account, ContractExclusion(account, reason))

    for address in analysis.incident.affected_contracts:
        add(address, "a protocol contract named in the incident: what it holds belongs to its users' claims")
    positions = (analysis.summary or {}).get("positions", {})
    for token, reader in analysis.position_readers.items():
        underlying = positions.get(token, {}).get("underlying", "its underlying")
        add(
            token,
            f"the contract of {reader} positions: its own {underlying} is what its holders' shares are worth, "
            "paid through their claims",
        )
    for token in analysis.tracked_assets:
        add(token, "a tracked token's own contract: what it holds backs its holders' claims")
    return found


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


def _with_payout_decimals(analysis: ImpactAnalysis, assets: list[AssetBudget], *, rpc_url: str) -> list[AssetBudget]:
    """Each entry with the asset's decimals (recorded by the analysis) and, for a payout token
    other than the asset, the payout token's ``decimals()`` read on chain now.

    A payout token must count in the asset's decimals: a plan's amounts are the asset's base
    units and the executor pays them one for one. Converting is refused rather than done, since
    fewer decimals cannot hold every amount exactly and more would rescale every balance the
    voters check against the old token; the migrated token can be deployed with the right ones.
    """
    recorded = (analysis.summary or {}).get("decimals", {})
    entries = [replace(entry, decimals=recorded.get(entry.asset)) for entry in assets]
    others = [entry for entry in entries if entry.payout_token != entry.asset]
    if not others:
        return entries
    from chain.balances import read_decimals
    from chain.blocks import head_block, node_chain_id
    from chain.logs import RawRpc

    try:
        with RawRpc(rpc_url) as rpc:
            actual = node_chain_id(rpc)
            if actual != analysis.incident.chain_id:
                raise ChainMismatch(
                    f"the node serves chain {actual}, incident {analysis.incident_id} is on chain "
                    f"{analysis.incident.chain_id}: the payout tokens' decimals cannot be read there",
                    expected=analysis.incident.chain_id,
                    actual=actual,
                )
            head = head_block(rpc)
            read = {}
            for entry in others:
                for token in (entry.payout_token, *([entry.asset] if entry.decimals is None else [])):
                    try:
                        read[token] = read_decimals(rpc, token, head)
                    except NotAnErc20 as error:
                        raise InvalidInput(
                            f"payout token {token} of {entry.asset}: {error.reason}", field="payout_tokens"
                        ) from None
    except ChainError as error:
        raise ChainUnavailable(redact(f"cannot read the payout tokens' decimals: {error}", secrets=[rpc_url])) from None
    checked = []
    for entry in entries:
        if entry.payout_token != entry.asset:
            decimals = entry.decimals if entry.decimals is not None else read[entry.asset]
            payout = read[entry.payout_token]
            if payout != decimals:
                raise InvalidInput(
                    f"payout token {entry.payout_token} has {payout} decimals, {entry.asset} has {decimals}: "
                    "a plan pays the asset's base units one for one, so the payout token must have the same "
                    "decimals (deploy the migrated token with them)",
                    field="payout_tokens",
                    asset=entry.asset,
                )
            entry = replace(entry, decimals=decimals, payout_decimals=payout)
        checked.append(entry)
    return checked


def _check_sums(asset: str, result: AllocationResult, *, from_claims_list: bool) -> None:
    """Refuse an allocation whose totals do not fit uint256 (the stored totals, ``approvePlan``)."""
    for label, total in (("claims", result.total_claims), ("entitlements", result.total_entitlements)):
        if total > UINT256_MAX:
            raise InvalidInput(
                f"{asset}: the {label} sum to {total}, which overflows uint256 (at most 2**256-1 base units); "
                "no token can pay them: check the " + ("claims list" if from_claims_list else "analysis"),
                field="claims" if from_claims_list else "budgets",
                asset=asset,
            )


def _refuse_double_payment(built: Sequence[tuple[Any, ...]], *, included: Sequence[str]) -> None:
    """Refuse paying a token's holders and, on another asset, the token's own contract.

    The holders' claims (vault shares, or their positions in the underlying) are claims on
    what the contract holds; paying the contract its holding as well pays one loss twice.
    Default exclusions prevent it; only a deliberate ``include_contracts`` can reach here.
    """
    paid_by_asset = {entry.asset: dict(paid) for entry, _result, paid, *_ in built}
    for token, holders_paid in paid_by_asset.items():
        if not any(amount > 0 for amount in holders_paid.values()):
            continue
        for asset, paid in paid_by_asset.items():
            if asset != token and paid.get(token, 0) > 0:
                raise InvalidInput(
                    f"{token} would be paid twice for one loss: its holders are paid their {token} claims, "
                    f"and the {token} contract itself {paid[token]} of {asset}, which backs those claims. "
                    f"Pay one or the other: leave {token} out of include_contracts, or pay nothing on {token} "
                    "(a pro-rata budget of 0)",
                    field="include_contracts" if token in included else "claims",
                    asset=asset,
                )


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
    except UnknownArtifact as error:
        raise ParameterError(str(error)) from None
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
            # Only names of compiled artifacts reach the file system; any other name (a path
            # included) gets the same answer whether or not such a file exists.
            try:
                abi = load_artifact(artifact).abi
            except UnknownArtifact as error:
                raise ParameterError(str(error)) from None
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
