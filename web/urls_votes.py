"""The holders' voting URLs (page fragments); ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_votes

urlpatterns = [
    path(
        "proposals/<int:proposal_id>/venues/<str:kind>/<int:pk>/tally/",
        views_votes.venue_tally,
        name="vote-tally",
    ),
]
