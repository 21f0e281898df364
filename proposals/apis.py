"""The REST API of proposal documents: freeze (committee), read (everyone).

``document.json`` serves the exact canonical bytes the content hash covers, so anyone can
hash what they download; ``body.md`` serves the Markdown body for voters.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proposals import selectors, services
from proposals.exceptions import ProposalNotFound
from proposals.models import ProposalDocument
from proposals.permissions import CanFreezeProposal
from recovery import plans


class ProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.IntegerField(source="plan_id")
    incident = serializers.IntegerField(source="incident_id")
    version = serializers.IntegerField()
    schema = serializers.CharField()
    status = serializers.CharField()
    content_hash = serializers.CharField()
    document_url = serializers.SerializerMethodField()
    body_url = serializers.SerializerMethodField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_document_url(self, proposal: ProposalDocument) -> str:
        return services.document_path(proposal.pk)

    def get_body_url(self, proposal: ProposalDocument) -> str:
        return f"/api/proposals/{proposal.pk}/body.md"


class PlanProposalApi(APIView):
    """The proposal document of a plan: ``POST`` freezes it (201 new, 200 already frozen)."""

    permission_classes = [CanFreezeProposal]

    @extend_schema(request=None, responses={200: ProposalOutput, 201: ProposalOutput})
    def post(self, request: Request, plan_id: int) -> Response:
        proposal, created = services.freeze_proposal(plan_id=plan_id, frozen_by=request.user)
        return Response(ProposalOutput(proposal).data, status=201 if created else 200)

    @extend_schema(responses=ProposalOutput)
    def get(self, request: Request, plan_id: int) -> Response:
        plans.get_plan(plan_id)  # an unknown plan answers plan_not_found
        proposal = selectors.find_proposal_of_plan(plan_id=plan_id)
        if proposal is None:
            raise ProposalNotFound(f"plan {plan_id} has no proposal document (not frozen)", plan=plan_id)
        return Response(ProposalOutput(proposal).data)


class ProposalDetailApi(APIView):
    @extend_schema(responses=ProposalOutput)
    def get(self, request: Request, proposal_id: int) -> Response:
        return Response(ProposalOutput(selectors.get_proposal(proposal_id=proposal_id)).data)


class ProposalDocumentApi(APIView):
    """The document's exact RFC 8785 bytes: their keccak256 is the content hash."""

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, proposal_id: int) -> HttpResponse:
        proposal = selectors.get_proposal(proposal_id=proposal_id)
        response = HttpResponse(proposal.canonical_bytes, content_type="application/json")
        filename = f"lifeboat-proposal-{proposal.pk}-v{proposal.version}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Hash"] = proposal.content_hash
        return response


class ProposalBodyApi(APIView):
    @extend_schema(responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request: Request, proposal_id: int) -> HttpResponse:
        proposal = selectors.get_proposal(proposal_id=proposal_id)
        return HttpResponse(proposal.body, content_type="text/markdown; charset=utf-8")
