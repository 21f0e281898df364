"""Sign-In with Ethereum's URLs (the lead adds ``urlpatterns += urls_siwe.urlpatterns`` to web/urls.py)."""

from django.urls import path

from web import views_siwe

urlpatterns = [
    path("auth/siwe/nonce/", views_siwe.nonce, name="siwe-nonce"),
    path("auth/siwe/login/", views_siwe.login, name="siwe-login"),
    path("auth/siwe/logout/", views_siwe.logout, name="siwe-logout"),
]
