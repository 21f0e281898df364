"""The monitors' API URLs; ``config/urls.py`` adds this list to its own."""

from django.urls import path

from monitoring import apis

urlpatterns = [
    path("api/monitoring/", apis.MonitoringOverviewApi.as_view(), name="api-monitoring"),
    path("api/monitoring/rules/<int:rule_id>/", apis.RuleDetailApi.as_view(), name="api-monitoring-rule"),
    path(
        "api/monitoring/rules/<int:rule_id>/observations/",
        apis.RuleObservationsApi.as_view(),
        name="api-monitoring-rule-observations",
    ),
    path("api/monitoring/firings/", apis.FiringListApi.as_view(), name="api-monitoring-firings"),
    path("api/monitoring/firings/<int:firing_id>/", apis.FiringDetailApi.as_view(), name="api-monitoring-firing"),
    path(
        "api/monitoring/firings/<int:firing_id>/resolve/",
        apis.FiringResolveApi.as_view(),
        name="api-monitoring-firing-resolve",
    ),
    path("api/monitoring/pauses/", apis.PauseListApi.as_view(), name="api-monitoring-pauses"),
    path("api/monitoring/unpause/", apis.UnpauseApi.as_view(), name="api-monitoring-unpause"),
]
