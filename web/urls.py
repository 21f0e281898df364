"""The pages' URLs; each module of views adds its own list here."""

from web import urls_holders, urls_siwe

urlpatterns: list = []
urlpatterns += urls_siwe.urlpatterns
urlpatterns += urls_holders.urlpatterns
