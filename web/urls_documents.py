"""The committee's document pages (freeze, preview, rehearsal, sign-off, publish); web/urls.py adds this list."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
