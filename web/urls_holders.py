"""The holders' read-only pages (``web/views_holders.py``); ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_holders

urlpatterns = [
    path("proposals/", views_holders.proposals_list, name="holder-proposals"),
    path("proposals/<int:proposal_id>/", views_holders.proposal_detail, name="holder-proposal"),
    path(
        "proposals/<int:proposal_id>/accounts/<str:address>/",
        views_holders.proposal_account,
        name="holder-proposal-account",
    ),
    path("me/", views_holders.my_account, name="holder-me"),
]
