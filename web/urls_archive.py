"""The state-snapshot pages' URLs; ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_archive as views

urlpatterns = [
    path("state-snapshots/", views.snapshot_list, name="snapshots-page"),
    path("state-snapshots/<int:snapshot_id>/", views.snapshot_detail, name="snapshot-page"),
    path("state-snapshots/<int:snapshot_id>/file", views.snapshot_file, name="snapshot-file"),
]
