"""The Safe Transaction Builder batch file of a proposal's calls (anyone reads it)."""

import json

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from proposals.apis_signoff import VENUE_PARAMETER, venue_param
from proposals.safe_export import export_safe_batch


class SafeBatchApi(APIView):
    """The proposal's calls as a file the Safe Transaction Builder imports, with the app's checksum.

    Every download of one document for one venue and Safe is byte-identical (``createdAt`` is
    the document's freeze time).
    """

    @extend_schema(
        parameters=[
            VENUE_PARAMETER,
            OpenApiParameter("safe", str, description="the Safe's EIP-55 address (meta.createdFromSafeAddress)"),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, proposal_id: int) -> HttpResponse:
        batch = export_safe_batch(
            proposal_id=proposal_id, venue_id=venue_param(request), safe_address=request.query_params.get("safe", "")
        )
        response = HttpResponse(json.dumps(batch, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="lifeboat-proposal-{proposal_id}-safe-batch.json"'
        return response


# Included by config/urls.py.
urlpatterns = [
    path("api/proposals/<int:proposal_id>/safe-batch.json", SafeBatchApi.as_view(), name="proposal-safe-batch"),
]
