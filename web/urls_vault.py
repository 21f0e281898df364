"""The vault page's URLs; ``web/urls.py`` adds this list to its own."""

from django.urls import path

from web import views_vault as views

urlpatterns = [
    path("vault/", views.vault_page, name="vault"),
    path("vault/<int:deployment_id>/escape-hatch.html", views.escape_hatch_download, name="vault-escape-hatch"),
    path("vault/shutdown/", views.shutdown, name="vault-shutdown"),
]
