"""State changes of proposal documents."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction

from proposals import document, selectors
from proposals.exceptions import PlanNotFreezable
from proposals.models import ProposalDocument, ProposalStatus
from recovery.exceptions import PlanNotFound
from recovery.models import RecoveryPlan


def document_path(proposal_id: int) -> str:
    """Where the API serves a document's exact canonical bytes."""
    return f"/api/proposals/{proposal_id}/document.json"


def freeze_proposal(*, plan_id: int, frozen_by: AbstractBaseUser | None) -> tuple[ProposalDocument, bool]:
    """Freeze ``plan_id`` into its proposal document; ``(document, created)``.

    Idempotent: a plan already frozen answers its existing document (``created`` False), never
    a second one. Plans never change (a changed plan is a new plan version), so the existing
    document still describes the plan exactly. The plan row is locked while freezing; on a
    database without row locks, a concurrent freeze of the same plan is caught by the
    one-document-per-plan constraint and answered with the document it stored.
    """
    with transaction.atomic():
        try:
            plan = RecoveryPlan.objects.select_for_update().select_related("incident", "analysis").get(pk=plan_id)
        except RecoveryPlan.DoesNotExist:
            raise PlanNotFound(f"there is no recovery plan {plan_id}", plan=plan_id) from None
        existing = selectors.find_proposal_of_plan(plan_id=plan_id)
        if existing is not None:
            return existing, False
        incident, analysis, plan_data = selectors.plan_facts(plan=plan)
        try:
            content = document.build_document(incident=incident, analysis=analysis, plan=plan_data)
            canonical = document.canonical_json(content)
        except document.DocumentError as error:
            raise PlanNotFreezable(f"plan {plan_id} cannot be frozen: {error}", plan=plan_id) from None
        digest = document.content_hash(canonical)
        try:
            with transaction.atomic():
                proposal = ProposalDocument.objects.create(
                    incident_id=plan.incident_id,
                    plan=plan,
                    version=plan.version,
                    schema=document.SCHEMA,
                    status=ProposalStatus.FROZEN,
                    canonical_json=canonical,
                    content_hash=digest,
                    body="",
                    created_by=frozen_by,
                )
        except IntegrityError:
            existing = selectors.find_proposal_of_plan(plan_id=plan_id)
            if existing is None:
                raise
            return existing, False
        # The body names the document's own URL, known once the row has its id.
        proposal.body = document.render_markdown(content, content_hash=digest, document_url=document_path(proposal.pk))
        proposal.save(update_fields=["body"])
    return proposal, True
