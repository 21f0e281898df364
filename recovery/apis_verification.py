"""The verification report of a plan: what the chain says it paid, account by account.

Reads, open to everyone like every other read of a plan (``recovery.permissions.ReadOnly``,
the default): the report holds nothing the chain and the plan's public pages do not. Each
request reads the chain afresh at its head (``recovery.verification.verify_plan``). A
restore-positions plan's asset carries ``venue`` and ``positions`` instead: each committed row
read back from the migrated market, ``ok``, ``mismatch`` (with the fields that differ) or
``not_restored``.
"""

from typing import Any

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recovery.verification import VerificationReport, report_json, report_markdown, verify_plan

ASSET_PARAMETER = OpenApiParameter("asset", str, description="only this asset (token address)")


class MarkdownRenderer(BaseRenderer):
    """Lets ``?format=md`` choose the Markdown report; the view renders the document itself."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Only errors reach here (the report is answered as an HttpResponse): they stay JSON.
        return JSONRenderer().render(data)


def _report(request: Request, plan_id: int) -> VerificationReport:
    return verify_plan(plan_id, asset=request.query_params.get("asset") or None)


def _markdown_download(report: VerificationReport) -> HttpResponse:
    response = HttpResponse(report_markdown(report), content_type="text/markdown; charset=utf-8")
    filename = f"lifeboat-plan-{report.plan_id}-verification-block-{report.block.number}.md"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class PlanVerificationApi(APIView):
    """Every account of the plan against its payments on chain; ``?format=md`` answers the Markdown download."""

    renderer_classes = [JSONRenderer, MarkdownRenderer]

    @extend_schema(
        parameters=[ASSET_PARAMETER, OpenApiParameter("format", str, enum=["json", "md"])],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/markdown"): OpenApiTypes.STR},
    )
    def get(self, request: Request, plan_id: int) -> Response | HttpResponse:
        report = _report(request, plan_id)
        if request.accepted_renderer.format == "md":
            return _markdown_download(report)
        return Response(report_json(report))


class PlanVerificationMarkdownApi(APIView):
    """The verification report as a Markdown download."""

    @extend_schema(parameters=[ASSET_PARAMETER], responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request: Request, plan_id: int) -> HttpResponse:
        return _markdown_download(_report(request, plan_id))


urlpatterns = [
    path("api/plans/<int:plan_id>/verification/", PlanVerificationApi.as_view(), name="plan-verification"),
    path(
        "api/plans/<int:plan_id>/verification.md",
        PlanVerificationMarkdownApi.as_view(),
        name="plan-verification-markdown",
    ),
]
