"""Reads of proposal documents, and the plan facts a document is built from."""

from django.db.models import Count

from proposals.document import AnalysisFacts, AssetFacts, IncidentFacts, PlanFacts
from proposals.exceptions import ProposalNotFound
from proposals.models import ProposalDocument
from recovery.models import MigrationBatch, RecoveryPlan
from recovery.plans import incident_key


def get_proposal(*, proposal_id: int) -> ProposalDocument:
    try:
        return ProposalDocument.objects.select_related("plan", "incident").get(pk=proposal_id)
    except ProposalDocument.DoesNotExist:
        raise ProposalNotFound(f"there is no proposal document {proposal_id}", proposal=proposal_id) from None


def find_proposal_of_plan(*, plan_id: int) -> ProposalDocument | None:
    return ProposalDocument.objects.select_related("plan", "incident").filter(plan_id=plan_id).first()


def plan_facts(*, plan: RecoveryPlan) -> tuple[IncidentFacts, AnalysisFacts, PlanFacts]:
    """The plain data ``document.build_document`` takes, read from ``plan`` and its rows."""
    incident, analysis = plan.incident, plan.analysis
    # Counted apart: grouping the asset rows would group their (large) tree dumps too.
    batch_counts = dict(
        MigrationBatch.objects.filter(plan_asset__plan=plan)
        .order_by()
        .values("plan_asset_id")
        .annotate(n=Count("pk"))
        .values_list("plan_asset_id", "n")
    )
    assets = plan.assets.defer("allocation_nodes").order_by("asset")
    return (
        IncidentFacts(
            id=incident.pk,
            title=incident.title,
            kind=incident.kind,
            chain_id=incident.chain_id,
            description=incident.description,
            affected_contracts=list(incident.affected_contracts),
            affected_tokens=list(incident.affected_tokens),
            exploiters=list(incident.exploiter_addresses),
            exploit_transactions=list(incident.exploit_transactions),
            detected_block=incident.detected_block,
        ),
        AnalysisFacts(
            id=analysis.pk,
            rollback_block=analysis.rollback_block,
            rollback_block_hash=analysis.rollback_block_hash,
            reference_block=analysis.reference_block,
            reference_block_hash=analysis.reference_block_hash,
            from_block=analysis.from_block,
            from_block_hash=analysis.from_block_hash,
            node_chain_id=analysis.node_chain_id,
            unconfirmed=analysis.unconfirmed,
            tracked_assets=list(analysis.tracked_assets),
            summary=analysis.summary or {},
        ),
        PlanFacts(
            id=plan.pk,
            version=plan.version,
            mode=plan.mode,
            policy=plan.policy,
            gas_ceiling=plan.gas_ceiling,
            dust_threshold=int(plan.dust_threshold),
            exclusions=list(plan.exclusions),
            parameter_changes=list(plan.parameter_changes),
            summary=plan.summary or {},
            incident_key=incident_key(incident.chain_id, incident.pk),
            delivery=plan.delivery,
            claim_deadline=plan.claim_deadline,
            recovery_executor=plan.recovery_executor,
            auto_execute=plan.auto_execute,
            cap=(plan.cap_numerator, plan.cap_denominator) if plan.cap_numerator else None,
            second_class=list(plan.second_class or ()),
            assets=tuple(
                AssetFacts(
                    asset=row.asset,
                    payout_token=row.payout_token,
                    budget=None if row.budget is None else int(row.budget),
                    total_claims=int(row.total_claims),
                    total_allocated=int(row.total_allocated),
                    dust_count=row.dust_count,
                    dust_total=int(row.dust_total),
                    allocation_root=row.allocation_root,
                    commitment_root=row.commitment_root,
                    onchain_plan_id=None if row.onchain_plan_id is None else int(row.onchain_plan_id),
                    batch_count=batch_counts.get(row.pk, 0),
                    allocation_dump=row.allocation_dump,
                    venue=row.venue,
                )
                for row in assets
            ),
        ),
    )
