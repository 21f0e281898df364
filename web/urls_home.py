"""The home page (with the role guides); ``web/urls.py`` adds this list to its own, first."""

from django.urls import path

from web import views_home

urlpatterns = [
    path("", views_home.home, name="home"),
]
