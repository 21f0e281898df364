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
import time
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
from recovery.batching import BatchingError, estimate_batch_gas, estimate_claims_gas, plan_batches
from recovery.commitment import CommitmentDomain, build_commitment
from recovery.diff import AccountDelta
from recovery.exceptions import (
    AnalysisNotComplete,
    AnalysisNotFound,
    ChainMismatch,
    ChainUnavailable,
    EarlierVersionExecuting,
    InvalidInput,
    PlanNotFound,
    PlanVersionConflict,
)
from recovery.fields import UINT256_MAX
from recovery.margin_impact import MARGIN_READER
from recovery.merkle import StandardMerkleTree
from recovery.models import (
    AccountImpact,
    Allocation,
    AnalysisStatus,
    BatchSend,
    BatchSendState,
    DeployedContract,
    ExecutionRun,
    ExecutionRunStatus,
    ImpactAnalysis,
    ImpactKind,
    Incident,
    IncidentStatus,
    MarginAccountImpact,
    MigrationBatch,
    PlanAsset,
    PlanDelivery,
    PlanMode,
    PlanPolicy,
    RecoveryPlan,
)
from recovery.parameters import ParameterError, decode_call, encode_call, function_signatures
from recovery.storage import bulk_insert
from recovery.validation import parse_address, parse_addresses, parse_amount

P = ParamSpec("P")

# The pull claim leaf (Uniswap's merkle-distributor layout): [leaf index, account, amount]. The
# index is what RecoveryExecutor.claim marks as claimed, so one account's leaf is paid once.
ALLOCATION_LEAF_ENCODING = ("uint256", "address", "uint256")
# RecoveryExecutor.Mode and Delivery as the contract numbers them.
EXECUTOR_MODES = {PlanMode.RESTITUTE: 0, PlanMode.RESTORE: 1, PlanMode.RESTORE_POSITIONS: 2}
EXECUTOR_DELIVERIES = {PlanDelivery.PUSH: 0, PlanDelivery.PUSH_FALLBACK: 1, PlanDelivery.PULL: 2}
# Claim windows beyond this are refused: a uint64 timestamp, and nothing sensible waits decades.
MAX_CLAIM_DAYS = 3_650

# Gas of RecoveryExecutor.executeBatch per batch and per recipient (a fresh holder costs a new
# storage slot). Measured on anvil with the demo tokens: about 28-29k a fresh recipient over an
# 80k base; tests/recovery/test_plans.py runs stored plans on chain and checks every batch's
# estimate bounds the gas it used.
GAS_BASE = 80_000
GAS_PER_NEW_RECIPIENT = 32_000
GAS_PER_EXISTING_RECIPIENT = 15_000
# Gas of one RecoveryExecutor.claim (pull delivery), paid by each holder. Measured on anvil with
# the demo vault shares (a 24-leaf tree): 96,1xx for a claimant already holding the token, about
# 17,000 more for a fresh one (its balance slot written from zero), and 131,058 for a plan's first
# claim (its bitmap word and paid total written from zero). The estimate covers a fresh claimant;
# tests/recovery/test_plan_delivery.py checks the claims of a real plan stay within it in total.
GAS_PER_CLAIM = 115_000
# A pro-rata cap's terms are stored as bigints; far more precision than any cap needs.
MAX_CAP_TERM = 2**63 - 1


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
    delivery: str | None = None,
    claim_deadline: int | None = None,
    claim_days: int | None = None,
    recovery_executor: str | None = None,
    auto_execute: bool = False,
    created_by: AbstractBaseUser | None = None,
    rpc_url: str | None = None,
    venue: str | None = None,
    second_class: Sequence[str] = (),
    cap_numerator: int | None = None,
    cap_denominator: int | None = None,
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

    ``delivery`` is how payments reach recipients: ``push``, ``push_fallback`` (restitute only)
    or ``pull``; by default ``push_fallback`` for restitute and ``push`` for restore. A pull plan
    needs its claim deadline, an absolute unix timestamp (``claim_deadline``) or a number of days
    from now (``claim_days``); a push plan refuses one. ``recovery_executor`` is the contract the
    batch leaves are bound to (default: the ``recovery_executor`` of the newest recorded
    Deployment on the incident's chain; none found: 400). ``auto_execute`` lets execution start
    by itself once the plan is approved.

    Version N > 1 pays net of earlier versions: what the chain says the incident's earlier plan
    versions already paid an account (pushed, credited or claimed on this plan's
    ``recovery_executor``) is subtracted from its claim before allocating. The summary records
    it per asset as ``paid_by_earlier_versions``.

    Concurrent builds for one incident are serialised on the incident row; a version taken
    meanwhile anyway (a database without row locks) raises :class:`PlanVersionConflict` (409).

    Mode ``restore_positions`` re-creates the analysed margin market's positions on ``venue``, a
    migrated market (:mod:`recovery.positions_plan`); ``venue`` applies to that mode only.

    Pro rata only: ``cap_numerator``/``cap_denominator`` cap each payment at ``claim * num // den``
    (Euler paid 1005/1000), and ``second_class`` names affected accounts paid only from what the
    first class (everyone else not excluded) leaves under the cap (:mod:`recovery.allocation`).
    A second-class account must have a claim in the plan and must not be excluded.

    A margin market of the analysis (position reader ``margin_market``) is claimed by each
    account's lost net value (``MarginAccountImpact``: what it was worth at the rollback block,
    never below nothing, less what it is worth at the reference block), in the market's credit
    units (USD, 6 decimals); its credit token is the payout token unless ``payout_tokens`` names
    another of the same decimals.
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
    if mode == PlanMode.RESTORE_POSITIONS and delivery not in (None, "", PlanDelivery.PUSH):
        raise InvalidInput(
            f"a restore-positions plan is delivered by push only, not {delivery!r}: the executor re-creates each "
            "position on the venue, there is nothing to credit or claim",
            field="delivery",
        )
    if venue and mode != PlanMode.RESTORE_POSITIONS:
        raise InvalidInput("venue applies to restore_positions plans only", field="venue")
    second, cap = _class_terms(
        mode=mode, policy=policy, second_class=second_class, cap=(cap_numerator, cap_denominator)
    )
    delivery, deadline = _delivery_terms(mode=mode, delivery=delivery, claim_deadline=claim_deadline, days=claim_days)
    if not isinstance(auto_execute, bool):
        raise InvalidInput("auto_execute must be true or false", field="auto_execute")
    executor = _recovery_executor(analysis.incident, recovery_executor)
    if isinstance(gas_ceiling, bool) or not isinstance(gas_ceiling, int) or gas_ceiling <= GAS_BASE:
        raise InvalidInput(f"gas_ceiling must be an integer above {GAS_BASE}", field="gas_ceiling")
    dust = parse_amount(dust_threshold, field="dust_threshold")
    if isinstance(exclusions, str) or isinstance(include_contracts, str):
        raise InvalidInput("exclusions and include_contracts are lists of addresses", field="exclusions")
    excluded = parse_addresses(list(exclusions), field="exclusions")
    included = parse_addresses(list(include_contracts), field="include_contracts")
    if mode == PlanMode.RESTORE_POSITIONS:
        from recovery.positions_plan import build_positions_plan

        return build_positions_plan(
            analysis=analysis,
            policy=policy,
            venue=venue,
            budgets=budgets or {},
            payout_tokens=payout_tokens or {},
            claims=claims or {},
            include_contracts=included,
            excluded=excluded,
            dust=dust,
            calls=_encode_parameter_changes(parameter_changes),
            gas_ceiling=gas_ceiling,
            delivery=delivery,
            recovery_executor=executor,
            auto_execute=auto_execute,
            created_by=created_by,
            rpc_url=rpc_url,
        )
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
    both = [account for account in second if account in all_excluded]
    if both:
        raise InvalidInput(
            f"second_class names {both[0]}, which the plan excludes: an account is either excluded or in the "
            "second class",
            field="second_class",
        )
    reasons = {
        **{account: defaults[account].reason for account in default_excluded},
        **dict.fromkeys(excluded, "excluded by the plan"),
        **dict.fromkeys(exploiters, "exploiter named in the incident"),
    }
    # Last of the checks: the only ones that ask the chain.
    assets = _with_payout_decimals(analysis, assets, rpc_url=rpc_url or settings.CHAIN_RPC_URL)
    earlier = list(
        RecoveryPlan.objects.filter(incident=analysis.incident).order_by("version").values_list("pk", "version")
    )
    refuse_while_earlier_versions_pay(analysis.incident_id)
    paid_before = _paid_by_earlier_versions(
        analysis, [pk for pk, _ in earlier], mode=mode, recovery_executor=executor, rpc_url=rpc_url
    )

    built = []
    claimants: set[str] = set()
    for entry in assets:
        if entry.asset in explicit:
            # An explicit claim reads as "held `amount` at the rollback block, nothing now".
            deltas = [AccountDelta(account, entry.asset, amount, 0) for account, amount in explicit[entry.asset]]
        elif analysis.position_readers.get(entry.asset) == MARGIN_READER and mode == PlanMode.RESTITUTE:
            deltas = _margin_deltas(analysis, entry.asset)
        else:
            deltas = [
                AccountDelta(row.account, row.asset, row.before, row.after)
                for row in AccountImpact.objects.filter(
                    analysis=analysis, asset=entry.asset, kind=ImpactKind.BALANCE
                ).order_by("account")
            ]
        paid_earlier = paid_before.get(entry.asset, {})
        try:
            result = allocate(
                mode=mode,
                policy=policy,
                deltas=net_of_paid(deltas, paid_earlier, mode=mode) if paid_earlier else deltas,
                budget=entry.budget,
                exclusions=all_excluded,
                dust_threshold=dust,
                cap_numerator=None if cap is None else cap[0],
                cap_denominator=None if cap is None else cap[1],
                second_class=second,
            )
        except AllocationError as error:
            raise InvalidInput(f"{entry.asset}: {error}", field="budgets", asset=entry.asset) from None
        claimants.update(a.account for a in (*result.allocations, *result.dust) if a.claim > 0)
        _check_sums(entry.asset, result, from_claims_list=entry.asset in explicit)
        paid = [(a.account, a.amount) for a in result.allocations if a.amount > 0]
        tree = (
            StandardMerkleTree.of(
                [[index, account, amount] for index, (account, amount) in enumerate(paid)], ALLOCATION_LEAF_ENCODING
            )
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
        built.append((entry, result, paid, tree, batches, holders, paid_earlier))
    _refuse_double_payment(built, included=included)
    unaffected = [account for account in second if account not in claimants]
    if unaffected:
        raise InvalidInput(
            f"second_class names {unaffected[0]}, which has no claim in this plan: only affected accounts "
            "can be put in the second class",
            field="second_class",
        )

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
        delivery=delivery,
        claim_deadline=deadline,
        recovery_executor=executor,
        auto_execute=auto_execute,
        expected_version=(earlier[-1][1] if earlier else 0) + 1,
        created_by=created_by,
        second_class=second,
        cap=cap,
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
    delivery: str,
    claim_deadline: int | None,
    recovery_executor: str,
    auto_execute: bool,
    expected_version: int,
    created_by: AbstractBaseUser | None,
    second_class: Sequence[str] = (),
    cap: tuple[int, int] | None = None,
) -> RecoveryPlan:
    """Write the plan, its assets, allocations and batches in one transaction, as the next version.

    The batch commitment is built here: its leaves name the on-chain plan id, which needs the
    plan row's id. ``expected_version`` is the version the build netted earlier payments for; a
    version taken meanwhile makes that netting stale, so it is a conflict to build again.
    """
    with transaction.atomic():
        plan = create_next_version(
            analysis,
            expected_version=expected_version,
            mode=mode,
            policy=policy,
            exclusions=all_excluded,
            second_class=list(second_class),
            cap_numerator=None if cap is None else cap[0],
            cap_denominator=None if cap is None else cap[1],
            dust_threshold=dust,
            parameter_changes=calls,
            gas_ceiling=gas_ceiling,
            delivery=delivery,
            claim_deadline=claim_deadline,
            recovery_executor=recovery_executor,
            auto_execute=auto_execute,
            created_by=created_by,
        )
        summary = {}
        chain_id = analysis.incident.chain_id
        pull = delivery == PlanDelivery.PULL
        for entry, result, paid, tree, batches, holders, paid_earlier in built:
            plan_id = onchain_plan_id(chain_id=chain_id, plan_id=plan.pk, asset=entry.asset)
            # A pull plan is approved on its allocation root and claimed leaf by leaf: it has no
            # batches to store (they are still planned above, to show the gas a push would cost).
            commitment = (
                build_commitment(batches, domain=CommitmentDomain(chain_id, recovery_executor, plan_id))
                if batches and not pull
                else None
            )
            gas = {
                "push": sum(
                    estimate_batch_gas(
                        recipients=batch.recipients,
                        gas_base=GAS_BASE,
                        gas_per_new_recipient=GAS_PER_NEW_RECIPIENT,
                        gas_per_existing_recipient=GAS_PER_EXISTING_RECIPIENT,
                        existing=holders,
                    )
                    for batch in batches
                ),
                "push_batches": len(batches),
                "pull": estimate_claims_gas(claims=len(paid), gas_per_claim=GAS_PER_CLAIM),
                "per_claim": GAS_PER_CLAIM,
            }
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
                onchain_plan_id=plan_id,
                allocation_dump=tree.dump() if tree else None,
                allocation_nodes=tree.node_bytes() if tree else None,
            )
            batch_of = (
                {} if pull else {account.lower(): batch.index for batch in batches for account in batch.recipients}
            )
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
                for batch in (batches if commitment is not None else [])
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
                "second_class_recipients": sum(1 for a in result.allocations if a.second_class and a.amount > 0),
                "second_class_allocated": str(result.second_class_allocated),
                "batches": 0 if pull else len(batches),
                "allocation_root": plan_asset.allocation_root,
                "commitment_root": plan_asset.commitment_root,
                "onchain_plan_id": str(plan_asset.onchain_plan_id),
                "gas": gas,
                "paid_by_earlier_versions": {
                    "total": str(sum(paid_earlier.values())),
                    "accounts": sum(1 for amount in paid_earlier.values() if amount > 0),
                },
            }
        plan.summary = {
            "assets": summary,
            "parameter_changes": len(calls),
            "contracts": contracts,
            "incident_key": incident_key(chain_id, analysis.incident_id),
            "version": plan.version,
            "delivery": delivery,
            "claim_deadline": claim_deadline,
            "recovery_executor": recovery_executor,
            "auto_execute": auto_execute,
            "second_class": list(second_class),
            "cap": None if cap is None else {"numerator": str(cap[0]), "denominator": str(cap[1])},
        }
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


def incident_key(chain_id: int, incident_id: int) -> str:
    """The RecoveryExecutor's key of an incident: keccak(abi.encode("lifeboat-incident", chainId, incidentId)).

    Derived, never stored: every version of the incident's plan is approved under this key, so a
    higher version supersedes the earlier ones on chain.
    """
    return "0x" + keccak(encode(["string", "uint256", "uint256"], ["lifeboat-incident", chain_id, incident_id])).hex()


def create_next_version(analysis: ImpactAnalysis, *, expected_version: int, **fields: Any) -> RecoveryPlan:
    """The plan row of the incident's next version, inside the caller's transaction.

    The incident row lock serialises concurrent builds: the next version is read under it (SQLite
    has no row locks; its IMMEDIATE transactions serialise the writers instead). Refused (409)
    while an earlier version is paying (the netting read before would be stale), and when another
    build stored a version since the caller read ``expected_version - 1``.
    """
    Incident.objects.select_for_update().filter(pk=analysis.incident_id).values_list("pk", flat=True).get()
    version = (RecoveryPlan.objects.filter(incident=analysis.incident).aggregate(v=Max("version"))["v"] or 0) + 1
    refuse_while_earlier_versions_pay(analysis.incident_id)
    if version != expected_version:
        raise PlanVersionConflict(
            f"plan version {version - 1} of incident {analysis.incident_id} was stored by another build "
            "while this one read the chain; build again",
            incident=analysis.incident_id,
            version=version,
        )
    try:
        with transaction.atomic():
            return RecoveryPlan.objects.create(incident=analysis.incident, analysis=analysis, version=version, **fields)
    except IntegrityError:
        # one_plan_per_version: a concurrent build took this version despite the lock.
        raise PlanVersionConflict(
            f"plan version {version} of incident {analysis.incident_id} was stored by another build "
            "meanwhile; build again",
            incident=analysis.incident_id,
            version=version,
        ) from None


def require_incident_chain(rpc: Any, analysis: ImpactAnalysis, *, what: str) -> None:
    """Refuse (``ChainMismatch``) a node that does not serve the incident's chain before ``what`` is read there."""
    from chain.blocks import node_chain_id

    actual = node_chain_id(rpc)
    if actual != analysis.incident.chain_id:
        raise ChainMismatch(
            f"the node serves chain {actual}, incident {analysis.incident_id} is on chain "
            f"{analysis.incident.chain_id}: {what} cannot be read there",
            expected=analysis.incident.chain_id,
            actual=actual,
        )


def refuse_while_earlier_versions_pay(incident_id: int) -> None:
    """Refuse a new version while an earlier one is still paying (409 ``earlier_version_executing``).

    A new version is allocated net of what the chain says earlier versions paid, read now; a run
    that goes on paying, or a batch transaction still in flight, would pay those accounts again
    under the new version. Paused and ready runs cannot go on meanwhile: resuming or starting
    them is refused once a later version exists (``recovery.execution``).
    """
    running = (
        ExecutionRun.objects.filter(plan_asset__plan__incident_id=incident_id, status=ExecutionRunStatus.RUNNING)
        .order_by("pk")
        .first()
    )
    if running is not None:
        raise EarlierVersionExecuting(
            f"execution run {running.pk} of plan version {running.version} is running: pause or cancel it before "
            "building a new version, which is allocated net of what the chain says earlier versions paid",
            run=running.pk,
        )
    in_flight = (
        BatchSend.objects.filter(
            run__plan_asset__plan__incident_id=incident_id, state__in=[BatchSendState.SIGNED, BatchSendState.SENT]
        )
        .order_by("pk")
        .first()
    )
    if in_flight is not None:
        raise EarlierVersionExecuting(
            f"batch {in_flight.index} of execution run {in_flight.run_id} has a transaction in flight "
            f"({in_flight.tx_hash}): build the new version once it has landed (reconciliation follows it)",
            run=in_flight.run_id,
        )


def net_of_paid(deltas: Sequence[AccountDelta], paid: Mapping[str, int], *, mode: str) -> list[AccountDelta]:
    """``deltas`` with each account's claim lowered by what it was ``paid`` already (never below zero).

    Restitute claims the loss ``before - after``: paid units count as held now. Restore claims
    the balance ``before``: paid units come off it. ``paid`` is keyed by EIP-55 address.
    """
    netted = []
    for delta in deltas:
        amount = paid.get(to_checksum_address(delta.account), 0)
        if amount and mode == PlanMode.RESTORE:
            delta = replace(delta, before=max(0, delta.before - amount))
        elif amount:
            delta = replace(delta, after=min(UINT256_MAX, delta.after + amount))
        netted.append(delta)
    return netted


def onchain_plan_id(*, chain_id: int, plan_id: int, asset: str) -> int:
    """The RecoveryExecutor plan id of one asset of a plan: unique per chain, plan and asset."""
    return int.from_bytes(
        keccak(encode(["string", "uint256", "uint256", "address"], ["lifeboat", chain_id, plan_id, asset])), "big"
    )


def _delivery_terms(*, mode: str, delivery: str | None, claim_deadline: Any, days: Any) -> tuple[str, int | None]:
    """The plan's delivery (defaulted by mode) and its claim deadline (pull only), checked."""
    if delivery is None or delivery == "":
        delivery = PlanDelivery.PUSH_FALLBACK if mode == PlanMode.RESTITUTE else PlanDelivery.PUSH
    if delivery not in PlanDelivery.values:
        raise InvalidInput(f"delivery {delivery!r} is not one of {', '.join(PlanDelivery.values)}", field="delivery")
    if delivery == PlanDelivery.PUSH_FALLBACK and mode != PlanMode.RESTITUTE:
        raise InvalidInput(
            "delivery push_fallback credits a refused transfer from the executor's balance, which only restitute "
            "holds; a restore plan mints: choose push or pull",
            field="delivery",
        )
    given = [name for name, value in (("claim_deadline", claim_deadline), ("claim_days", days)) if value is not None]
    if delivery != PlanDelivery.PULL:
        if given:
            raise InvalidInput(
                f"{given[0]} applies to pull delivery only (holders claim until then); a {delivery} plan has none",
                field=given[0],
            )
        return delivery, None
    if len(given) != 1:
        raise InvalidInput(
            "a pull plan needs its claim deadline: give claim_deadline (a unix timestamp) or claim_days, not "
            + ("both" if given else "neither"),
            field="claim_deadline",
        )
    now = int(time.time())
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CLAIM_DAYS:
            raise InvalidInput(
                f"claim_days must be a whole number of days from 1 to {MAX_CLAIM_DAYS}", field="claim_days"
            )
        return delivery, now + days * 86_400
    if isinstance(claim_deadline, bool) or not isinstance(claim_deadline, int):
        raise InvalidInput("claim_deadline must be a unix timestamp (whole seconds)", field="claim_deadline")
    if not now < claim_deadline <= now + MAX_CLAIM_DAYS * 86_400:
        raise InvalidInput(
            f"claim_deadline {claim_deadline} must be in the future (now is {now}) and within {MAX_CLAIM_DAYS} days: "
            "RecoveryExecutor.approvePlan refuses a pull plan whose deadline has passed",
            field="claim_deadline",
        )
    return delivery, claim_deadline


def _recovery_executor(incident: Incident, given: str | None) -> str:
    """``given`` checksummed, or the newest recorded Deployment's RecoveryExecutor on the incident's chain."""
    if given:
        return parse_address(given, field="recovery_executor")
    row = (
        DeployedContract.objects.filter(deployment__chain_id=incident.chain_id, role="recovery_executor")
        .order_by("-deployment__created_at", "-deployment__pk")
        .values_list("address", flat=True)
        .first()
    )
    if row is None:
        raise InvalidInput(
            f"no RecoveryExecutor is recorded for chain {incident.chain_id}: give recovery_executor (the contract "
            "the plan's batch leaves are bound to), or record the deployment first",
            field="recovery_executor",
        )
    return to_checksum_address(row)


def _paid_by_earlier_versions(
    analysis: ImpactAnalysis, plan_ids: Sequence[int], *, mode: str, recovery_executor: str, rpc_url: str | None
) -> dict[str, dict[str, int]]:
    """Per asset, what the incident's earlier plan versions already paid each account on chain.

    Read from the chain alone (``chain.payouts``): the events of their on-chain plan ids on
    ``recovery_executor``. Each group of plan assets sharing a payout token and mode is one scan.
    """
    if not plan_ids:
        return {}
    rows = list(
        # Restored positions are no payments: a later version finds them on the venue instead.
        PlanAsset.objects.filter(plan_id__in=plan_ids, onchain_plan_id__isnull=False)
        .exclude(plan__mode=PlanMode.RESTORE_POSITIONS)
        .values_list("asset", "payout_token", "onchain_plan_id", "plan__mode")
    )
    if not rows:
        return {}
    from chain.logs import RawRpc
    from chain.payouts import PayoutMismatch, paid_by_account, plan_payments

    groups: dict[tuple[str, str, int], list[int]] = {}
    for asset, payout_token, plan_id, plan_mode in rows:
        groups.setdefault((asset, payout_token, EXECUTOR_MODES[plan_mode]), []).append(int(plan_id))
    url = rpc_url or settings.CHAIN_RPC_URL
    paid: dict[str, dict[str, int]] = {}
    try:
        with RawRpc(url) as rpc:
            require_incident_chain(rpc, analysis, what="what earlier plan versions paid")
            for (asset, token, executor_mode), ids in groups.items():
                payments = plan_payments(
                    rpc, recovery_executor=recovery_executor, plan_ids=ids, token=token, mode=executor_mode
                )
                into = paid.setdefault(asset, {})
                for account, amount in paid_by_account(payments).items():
                    into[account] = into.get(account, 0) + amount
    except PayoutMismatch as error:
        raise InvalidInput(
            f"what earlier versions paid does not add up on chain ({error}): a plan cannot be netted against it",
            field="recovery_executor",
        ) from None
    except ChainError as error:
        raise ChainUnavailable(redact(f"cannot read what earlier plan versions paid: {error}", secrets=[url])) from None
    return paid


def _class_terms(
    *, mode: str, policy: str, second_class: Any, cap: tuple[Any, Any]
) -> tuple[list[str], tuple[int, int] | None]:
    """The plan's second class (addresses, EIP-55) and pro-rata cap, checked against its mode and policy.

    Both shape a pro-rata sharing of a budget: a full plan pays every claim, and a
    restore-positions plan re-creates positions, so neither has a remainder or a share to cap.
    """
    if isinstance(second_class, str) or not isinstance(second_class, Sequence):
        raise InvalidInput("second_class is a list of addresses", field="second_class")
    second = parse_addresses(list(second_class), field="second_class")
    numerator, denominator = cap
    given = numerator is not None or denominator is not None
    for name, terms in (("second_class", bool(second)), ("cap_numerator", given)):
        if not terms:
            continue
        if mode == PlanMode.RESTORE_POSITIONS:
            raise InvalidInput(
                f"{name} applies to payments; a restore_positions plan re-creates positions, it shares no budget",
                field=name,
            )
        if policy != PlanPolicy.PRO_RATA:
            raise InvalidInput(
                f"{name} needs the pro_rata policy: a {policy} plan pays every claim, there is nothing to share",
                field=name,
            )
    if len(set(second)) != len(second):
        raise InvalidInput("second_class names an account twice", field="second_class")
    if not given:
        return second, None
    for name, number in (("cap_numerator", numerator), ("cap_denominator", denominator)):
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_CAP_TERM:
            raise InvalidInput(
                f"{name} must be a whole number from 1 to {MAX_CAP_TERM} (give both: Euler's cap is 1005 / 1000)",
                field=name,
            )
    if numerator < denominator:
        raise InvalidInput(
            f"a cap of {numerator}/{denominator} is below 1: it would pay less than the claims even with the budget "
            "to cover them (lower the budget instead)",
            field="cap_numerator",
        )
    return second, (numerator, denominator)


def _margin_deltas(analysis: ImpactAnalysis, market: str) -> list[AccountDelta]:
    """Each margin account's net value at the rollback and reference blocks, never below nothing, as
    a delta of the market's credit units: restitute mode then claims the lost net value."""
    return [
        AccountDelta(account, market, max(0, before), max(0, after))
        for account, before, after in MarginAccountImpact.objects.filter(analysis=analysis, market=market)
        .order_by("account")
        .values_list("account", "net_value_before", "net_value_after")
    ]


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
