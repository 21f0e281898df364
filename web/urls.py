"""The pages' URLs; each module of views adds its own list here."""

from web import (
    urls_accounts,
    urls_archive,
    urls_committee,
    urls_documents,
    urls_executor,
    urls_holders,
    urls_home,
    urls_monitoring,
    urls_siwe,
    urls_vault,
    urls_votes,
)

urlpatterns: list = []
urlpatterns += urls_home.urlpatterns
urlpatterns += urls_accounts.urlpatterns
urlpatterns += urls_siwe.urlpatterns
urlpatterns += urls_holders.urlpatterns
urlpatterns += urls_votes.urlpatterns
urlpatterns += urls_committee.urlpatterns
urlpatterns += urls_documents.urlpatterns
urlpatterns += urls_executor.urlpatterns
urlpatterns += urls_monitoring.urlpatterns
urlpatterns += urls_vault.urlpatterns
urlpatterns += urls_archive.urlpatterns
