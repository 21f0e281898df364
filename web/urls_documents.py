"""The committee's document pages (freeze, preview, rehearsal, sign-off, publish); web/urls.py adds this list."""

from django.urls import path

from web import views_documents

urlpatterns: list = [
    path("plans/<int:plan_id>/freeze/", views_documents.plan_freeze, name="committee-plan-freeze"),
    path("documents/<int:document_id>/", views_documents.document_detail, name="committee-document"),
    path(
        "documents/<int:document_id>/rehearsals/",
        views_documents.document_rehearse,
        name="committee-document-rehearse",
    ),
    path("documents/<int:document_id>/publish/", views_documents.document_publish, name="committee-document-publish"),
    path("rehearsals/<int:rehearsal_id>/", views_documents.rehearsal_detail, name="committee-rehearsal"),
    path("rehearsals/<int:rehearsal_id>/status/", views_documents.rehearsal_status, name="committee-rehearsal-status"),
]
