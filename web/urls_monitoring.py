"""The monitoring pages' URLs; ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_monitoring as views

urlpatterns = [
    path("monitoring/", views.overview, name="monitoring"),
    path("monitoring/live/", views.overview_live, name="monitoring-live"),
    path("monitoring/rules/<int:rule_id>/", views.rule_detail, name="monitoring-rule"),
    path("monitoring/firings/<int:firing_id>/", views.firing_detail, name="monitoring-firing"),
    path("monitoring/firings/<int:firing_id>/resolve/", views.firing_resolve, name="monitoring-firing-resolve"),
    path("monitoring/pauses/", views.pauses, name="monitoring-pauses"),
    path("monitoring/unpause/", views.unpause, name="monitoring-unpause"),
]
