"""Reads of the recovery app."""

from typing import Any

from django.db import connection
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast

from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.exceptions import InvalidInput
from recovery.merkle import StandardMerkleTree, proof_positions
from recovery.models import (
    AccountImpact,
    Allocation,
    Deployment,
    ImpactKind,
    MarginAccountImpact,
    MarginLiquidation,
    MigrationBatch,
    PlanAsset,
    PlanMode,
    RecoveryPlan,
)


def get_current_deployment(*, rpc_url: str) -> Deployment | None:
    """The newest deployment recorded for ``rpc_url``, with its contracts loaded."""
    return Deployment.objects.filter(rpc_url=rpc_url).prefetch_related("contracts").first()


def account_position(*, plan_id: int, account: str) -> dict[str, Any] | None:
    """What one account lost and gets in a plan, per asset, with its allocation proof.

    ``None`` when the account appears neither in the plan's analysis nor in its allocations.
    Amounts are decimal strings.
    """
    # Only the columns a proof needs: a plan asset's tree dump and node array grow with the
    # number of leaves (hundreds of MB at a million), and the proof reads its few nodes alone.
    plan = RecoveryPlan.objects.only("pk", "analysis_id", "exclusions", "mode").get(pk=plan_id)
    rows = list(AccountImpact.objects.filter(analysis_id=plan.analysis_id, account=account))
    impacts = {row.asset: row for row in rows if row.kind == ImpactKind.BALANCE}
    positions = {row.asset: row for row in rows if row.kind == ImpactKind.POSITION}
    allocations = {row.plan_asset_id: row for row in Allocation.objects.filter(plan_asset__plan=plan, account=account)}
    margin = {
        row.market: row for row in MarginAccountImpact.objects.filter(analysis_id=plan.analysis_id, account=account)
    }
    plan_assets = list(
        PlanAsset.objects.filter(plan=plan).only("pk", "asset", "allocation_root", "venue").order_by("pk")
    )
    restores = (
        {pa.pk: row for pa in plan_assets if (row := restore_entry(pa, account)) is not None}
        if plan.mode == PlanMode.RESTORE_POSITIONS
        else {}
    )
    if not impacts and not allocations and not margin and not restores:
        return None
    assets = []
    for plan_asset in plan_assets:
        impact = impacts.get(plan_asset.asset)
        allocation = allocations.get(plan_asset.pk)
        proof: list[str] = []
        leaf = None
        if allocation is not None:
            leaf, proof = _allocation_proof(plan_asset.pk, allocation.tree_index)
        assets.append(
            {
                "asset": plan_asset.asset,
                "before": str(impact.before) if impact else "0",
                "after": str(impact.after) if impact else "0",
                "delta": str(impact.delta) if impact else "0",
                "claim": str(allocation.claim) if allocation else "0",
                "allocation": str(allocation.amount) if allocation else "0",
                "batch_index": allocation.batch_index if allocation else None,
                "leaf_index": allocation.leaf_index if allocation else None,
                "leaf": leaf,
                "proof": proof,
                "allocation_root": plan_asset.allocation_root,
                "excluded": account in plan.exclusions,
                "position": None
                if plan_asset.asset not in positions
                else {
                    "before": str(positions[plan_asset.asset].before),
                    "after": str(positions[plan_asset.asset].after),
                    "delta": str(positions[plan_asset.asset].delta),
                },
                "margin": _margin_json(margin.get(plan_asset.asset), plan.analysis_id),
                "restore": restores.get(plan_asset.pk),
            }
        )
    return {"plan": plan.pk, "account": account, "assets": assets}


def restore_entry(plan_asset: PlanAsset, account: str) -> dict[str, Any] | None:
    """The row a restore-positions plan asset re-creates for ``account``, with its batch, or ``None``.

    The batches' recipients are searched as text in the database (a case-insensitive substring of
    the JSON list, the same on SQLite and PostgreSQL), then confirmed exactly here.
    """
    key = account.lower()
    candidates = MigrationBatch.objects.filter(plan_asset=plan_asset, recipients__icontains=key[2:]).only(
        "index", "recipients", "positions", "leaf_hash"
    )
    for batch in candidates.order_by("index"):
        for row in batch.positions or ():
            if row["account"].lower() == key:
                return {
                    "venue": plan_asset.venue,
                    "batch_index": batch.index,
                    "batch_leaf_hash": batch.leaf_hash,
                    "row": dict(row),
                }
    return None


def _margin_json(row: MarginAccountImpact | None, analysis_id: int) -> dict[str, Any] | None:
    """The account's valuation on a margin market at both blocks, and its liquidations in between."""
    if row is None:
        return None
    liquidations = MarginLiquidation.objects.filter(analysis_id=analysis_id, market=row.market, account=row.account)
    return {
        "net_value_before": str(row.net_value_before),
        "net_value_after": str(row.net_value_after),
        "lost_net_value": str(row.lost_net_value),
        "health_factor_before": str(row.health_factor_before),
        "liquidated": row.liquidated,
        "liquidations": [
            {
                "block": entry.block,
                "tx_hash": entry.tx_hash,
                "price": str(entry.price),
                "seized_collateral": str(entry.seized_collateral),
                "debt_repaid": str(entry.debt_repaid),
                "penalty": str(entry.penalty),
                "unfair": entry.unfair_firing_id is not None,
            }
            for entry in liquidations.order_by("block", "log_index")
        ],
    }


def allocation_proof(plan_asset_id: int, tree_index: int) -> list[str]:
    """The allocation-tree proof of the leaf at ``tree_index`` (a pull plan's ``claim`` takes it)."""
    return _allocation_proof(plan_asset_id, tree_index)[1]


def _allocation_proof(plan_asset_id: int, tree_index: int) -> tuple[str, list[str]]:
    """The leaf and proof at ``tree_index``, reading only those nodes out of the stored array."""
    positions = [tree_index, *proof_positions(tree_index)]
    # SQL written here: the ORM's building of ~18 SUBSTR expressions cost more CPU than the whole
    # read (about 3 ms, a third of the holder's account page). SUBSTR slices bytea and BLOB alike.
    column = connection.ops.quote_name(PlanAsset._meta.get_field("allocation_nodes").column)
    slices = ", ".join([f"SUBSTR({column}, %s, 32)"] * len(positions))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {slices} FROM {PlanAsset._meta.db_table} WHERE id = %s",  # noqa: S608 (names from _meta)
            [*(32 * p + 1 for p in positions), plan_asset_id],
        )
        nodes = cursor.fetchone()
    if nodes is None:
        raise PlanAsset.DoesNotExist(f"no plan asset {plan_asset_id}")
    hexes = ["0x" + bytes(node).hex() for node in nodes]
    return hexes[0], hexes[1:]


def commitment_domain(plan_asset: PlanAsset) -> CommitmentDomain:
    """What ``plan_asset``'s batch leaves are bound to: its chain, its plan's RecoveryExecutor, its on-chain id."""
    plan = plan_asset.plan
    return CommitmentDomain(plan.incident.chain_id, plan.recovery_executor, int(plan_asset.onchain_plan_id))


def stored_batches(plan_asset: PlanAsset) -> list[Batch]:
    """The plan asset's stored migration batches, in index order, as the commitment takes them."""
    return [
        Batch(index=index, recipients=tuple(recipients), amounts=tuple(int(amount) for amount in amounts))
        for index, recipients, amounts in MigrationBatch.objects.filter(plan_asset=plan_asset)
        .order_by("index")
        .values_list("index", "recipients", "amounts")
    ]


def commitment_for(plan_asset: PlanAsset) -> StandardMerkleTree:
    """The batch commitment of ``plan_asset``, rebuilt from its stored batches under its domain.

    Raises ``InvalidInput`` when the plan asset has no batches (a pull plan, or nothing to pay)
    or when the rebuilt root is not the stored ``commitment_root``: a stored batch or the
    domain changed after the plan was built, and no proof from it would verify on chain.
    """
    batches = stored_batches(plan_asset)
    if not batches or not plan_asset.commitment_root:
        raise InvalidInput(
            f"{plan_asset.asset} of plan {plan_asset.plan_id} has no batch commitment (a pull plan, or nothing to pay)",
            field="asset",
        )
    if not plan_asset.plan.recovery_executor or plan_asset.onchain_plan_id is None:
        raise InvalidInput(
            f"plan {plan_asset.plan_id} names no RecoveryExecutor: its batch leaves are bound to none", field="plan"
        )
    if plan_asset.plan.mode == PlanMode.RESTORE_POSITIONS:
        # Its leaves commit to each batch's restored rows on the venue, not to recipients and amounts.
        from recovery.positions_plan import build_positions_commitment, stored_position_batches

        tree = build_positions_commitment(
            stored_position_batches(plan_asset), domain=commitment_domain(plan_asset), venue=plan_asset.venue
        )
    else:
        tree = build_commitment(batches, domain=commitment_domain(plan_asset))
    if tree.root != plan_asset.commitment_root:
        raise InvalidInput(
            f"the {len(batches)} stored batches of {plan_asset.asset} in plan {plan_asset.plan_id} make commitment "
            f"root {tree.root}, not the stored {plan_asset.commitment_root}: the stored plan was altered",
            field="commitment_root",
        )
    return tree


def batch_proof(plan_asset: PlanAsset, index: int) -> list[str]:
    """The commitment proof of batch ``index`` of ``plan_asset`` (what ``executeBatch`` takes)."""
    tree = commitment_for(plan_asset)
    if not 0 <= index < len(tree.values):
        raise InvalidInput(
            f"{plan_asset.asset} of plan {plan_asset.plan_id} has batches 0..{len(tree.values) - 1}, not {index}",
            field="index",
        )
    return tree.get_proof(index)


def list_account_impacts(
    *, analysis_id: int, asset: str | None = None, kind: str = "balance", losers_first: bool = True, limit: int = 100
) -> QuerySet[AccountImpact]:
    rows = AccountImpact.objects.filter(analysis_id=analysis_id, kind=kind)
    if asset:
        rows = rows.filter(asset=asset)
    return rows.order_by("delta" if losers_first else "-delta", "account")[:limit]


def list_all_account_impacts(
    *, analysis_id: int, asset: str | None = None, kind: str = "balance"
) -> QuerySet[AccountImpact]:
    """Every row of an analysis (one asset, one kind), largest losers first, unsliced: the API pages it.

    The ``(delta, account)`` order is total, so pages never repeat or skip a row; the rows of an
    analysis are written once, when it completes, so page offsets stay valid.
    """
    rows = AccountImpact.objects.filter(analysis_id=analysis_id, kind=kind)
    if asset:
        rows = rows.filter(asset=asset)
    return rows.order_by("delta", "account")


def list_plan_batches(*, plan_id: int, asset: str | None = None) -> QuerySet[MigrationBatch]:
    """A plan's migration batches, by asset then index, each annotated with its ``asset``.

    Reads no ``PlanAsset`` column beyond the asset (its tree dump and node array stay on disk).
    """
    rows = MigrationBatch.objects.filter(plan_asset__plan_id=plan_id).annotate(asset=F("plan_asset__asset"))
    if asset:
        rows = rows.filter(plan_asset__asset=asset)
    return rows.order_by("plan_asset_id", "index")


def get_allocation_dump_text(*, plan_id: int, asset: str) -> str | None:
    """The allocation tree's ``standard-v1`` dump of one plan asset, as stored JSON text.

    Read as text so a large dump is neither parsed nor re-serialised; ``None`` when the plan has
    no such asset or the asset has no tree (nothing allocated).
    """
    texts = list(
        PlanAsset.objects.filter(plan_id=plan_id, asset=asset, allocation_dump__isnull=False)
        .annotate(dump_text=Cast("allocation_dump", TextField()))
        .values_list("dump_text", flat=True)[:1]
    )
    return texts[0] if texts else None
