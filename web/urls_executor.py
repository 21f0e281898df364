"""The executor pages' URLs; ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_executions as views

urlpatterns = [
    path("executions/", views.runs_list, name="executor-runs"),
    path("executions/discover/", views.discover, name="executor-discover"),
    path(
        "executions/publications/<int:publication_id>/queue/",
        views.publication_action,
        {"action": "queue"},
        name="executor-publication-queue",
    ),
    path(
        "executions/publications/<int:publication_id>/execute/",
        views.publication_action,
        {"action": "execute"},
        name="executor-publication-execute",
    ),
    path("executions/<int:run_id>/", views.run_detail, name="executor-run"),
    path("executions/<int:run_id>/progress/", views.run_progress, name="executor-run-progress"),
    path("executions/<int:run_id>/events/", views.run_events, name="executor-run-events"),
    *(
        path(f"executions/<int:run_id>/{action}/", views.run_action, {"action": action}, name=f"executor-run-{action}")
        for action in ("start", "pause", "resume", "cancel")
    ),
    path("plans/<int:plan_id>/verification/", views.verification, name="executor-verification"),
]
