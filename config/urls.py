from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from archive import apis as archive_apis
from config import errors
from governance import apis as governance_apis
from governance import apis_ballots, apis_following, apis_publishing, apis_snapshot
from monitoring import urls_api as monitoring_urls
from proposals import apis as proposal_apis
from proposals import apis_rehearsal, apis_safe, apis_signoff
from recovery import apis, apis_execution, apis_vault, apis_verification

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/incidents/", apis.IncidentListApi.as_view(), name="incidents"),
    path("api/incidents/<int:incident_id>/", apis.IncidentDetailApi.as_view(), name="incident"),
    path("api/incidents/<int:incident_id>/analyses/", apis.AnalysisCreateApi.as_view(), name="incident-analyses"),
    path("api/analyses/<int:analysis_id>/", apis.AnalysisDetailApi.as_view(), name="analysis"),
    path("api/analyses/<int:analysis_id>/cancel/", apis.AnalysisCancelApi.as_view(), name="analysis-cancel"),
    path("api/analyses/<int:analysis_id>/accounts/", apis.AnalysisAccountsApi.as_view(), name="analysis-accounts"),
    path("api/analyses/<int:analysis_id>/plans/", apis.PlanCreateApi.as_view(), name="analysis-plans"),
    path("api/plans/<int:plan_id>/", apis.PlanDetailApi.as_view(), name="plan"),
    path("api/parameter-changes/decode/", apis.ParameterChangeDecodeApi.as_view(), name="parameter-decode"),
    path("api/plans/<int:plan_id>/accounts/<str:address>/", apis.PlanAccountApi.as_view(), name="plan-account"),
    path("api/plans/<int:plan_id>/batches/", apis.PlanBatchesApi.as_view(), name="plan-batches"),
    path("api/plans/<int:plan_id>/assets/<str:asset>/tree/", apis.PlanAssetTreeApi.as_view(), name="plan-asset-tree"),
    path("api/venues/", governance_apis.VenueListApi.as_view(), name="venues"),
    path("api/venues/governor/", governance_apis.GovernorVenueCreateApi.as_view(), name="venue-governor-add"),
    path("api/venues/<int:venue_id>/", governance_apis.VenueDetailApi.as_view(), name="venue"),
    path("api/plans/<int:plan_id>/proposal/", proposal_apis.PlanProposalApi.as_view(), name="plan-proposal"),
    path("api/proposals/<int:proposal_id>/", proposal_apis.ProposalDetailApi.as_view(), name="proposal"),
    path(
        "api/proposals/<int:proposal_id>/document.json",
        proposal_apis.ProposalDocumentApi.as_view(),
        name="proposal-document",
    ),
    path("api/proposals/<int:proposal_id>/body.md", proposal_apis.ProposalBodyApi.as_view(), name="proposal-body"),
    *apis_rehearsal.urlpatterns,
    *apis_signoff.urlpatterns,
    *apis_safe.urlpatterns,
    *apis_publishing.urlpatterns,
    *apis_following.urlpatterns,
    *apis_ballots.urlpatterns,
    *apis_snapshot.urlpatterns,
    *apis_execution.urlpatterns,
    *apis_verification.urlpatterns,
    *apis_vault.urlpatterns,
    *monitoring_urls.urlpatterns,
    *archive_apis.urlpatterns,
    path("", include("web.urls")),
    # Last: any other /api/ path answers the JSON 404, with DEBUG on as well (whose 404 is a page).
    re_path(r"^api/", errors.api_not_found),
]

# Under /api/ an unknown path or an uncaught error answers JSON, like every other API error.
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
