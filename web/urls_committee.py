"""The committee pages' URLs; ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_incidents

urlpatterns: list = [
    path("incidents/", views_incidents.incident_list, name="committee-incidents"),
    path("incidents/new/", views_incidents.incident_new, name="committee-incident-new"),
    path("incidents/<int:incident_id>/", views_incidents.incident_detail, name="committee-incident"),
    path("incidents/<int:incident_id>/analyses/", views_incidents.analysis_new, name="committee-analysis-new"),
    path("analyses/<int:analysis_id>/", views_incidents.analysis_detail, name="committee-analysis"),
    path("analyses/<int:analysis_id>/progress/", views_incidents.analysis_progress, name="committee-analysis-progress"),
    path("analyses/<int:analysis_id>/cancel/", views_incidents.analysis_cancel, name="committee-analysis-cancel"),
    path("analyses/<int:analysis_id>/plans/new/", views_incidents.plan_new, name="committee-plan-new"),
    path("plans/<int:plan_id>/", views_incidents.plan_detail, name="committee-plan"),
    path("plans/abi/<str:artifact>/", views_incidents.plan_abi, name="committee-plan-abi"),
    path("plans/preview-change/", views_incidents.plan_preview, name="committee-plan-preview"),
]
