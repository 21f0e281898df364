"""The holders' voting URLs (page fragments); ``web/urls.py`` adds this list to its own."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
