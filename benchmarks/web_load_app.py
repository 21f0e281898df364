"""The web-load benchmark's peer and floor, served by the same gunicorn as Lifeboat's pages.

- peer: ``/bench/peer/proposals/<id>/`` is Lifeboat's own proposal page (same view, template and
  context) with the accounts table read the way a Django developer writes it first: a
  ``Paginator`` (``COUNT(*)`` and ``OFFSET``) over the same rows in the same order, searched with
  ``icontains``. Only that one query differs, so the ratio is the query's cost.
- floor: ``/bench/floor/<size>/`` answers ``size`` bytes of constant HTML through the same Django
  middleware and worker, without touching the database.

The swap of the table's selector holds for one request in one gunicorn sync worker (one request
at a time per process), and is undone before the response is returned.
"""

from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as lifeboat_urlpatterns
from recovery.models import AccountImpact, Allocation, ImpactKind, PlanAsset
from web import selectors_holders, views_holders


def naive_accounts_page(
    *, plan_asset: PlanAsset, analysis_id: int, prefix: str, page: str | int | None, analysis_key: str | None = None
) -> tuple[Page, list[selectors_holders.AffectedAccount]]:
    """What a Django developer writes first for the table: filter, ``icontains``, order, paginate (no cache)."""
    rows = AccountImpact.objects.filter(
        analysis_id=analysis_id, asset=plan_asset.asset, kind=ImpactKind.BALANCE, delta__lt=0
    )
    if prefix:
        # "0x" occurs only at an address's start, so this is the prefix search, the same answer.
        rows = rows.filter(account__icontains="0x" + prefix)
    current = Paginator(rows.order_by("delta", "account"), selectors_holders.ACCOUNTS_PER_PAGE).get_page(page)
    impacts = list(current.object_list)
    allocations = {
        row.account: row
        for row in Allocation.objects.filter(plan_asset_id=plan_asset.pk, account__in=[row.account for row in impacts])
    }
    return current, [
        selectors_holders.AffectedAccount(
            account=row.account,
            before=int(row.before),
            after=int(row.after),
            loss=-int(row.delta),
            claim=None if row.account not in allocations else int(allocations[row.account].claim),
            allocation=None if row.account not in allocations else int(allocations[row.account].amount),
        )
        for row in impacts
    ]


def peer_proposal(request: HttpRequest, proposal_id: int) -> HttpResponse:
    lifeboat = selectors_holders.affected_accounts_page
    selectors_holders.affected_accounts_page = naive_accounts_page
    try:
        return views_holders.proposal_detail(request, proposal_id)
    finally:
        selectors_holders.affected_accounts_page = lifeboat


_FLOOR_CACHE: dict[int, bytes] = {}


def floor(request: HttpRequest, size: int) -> HttpResponse:
    body = _FLOOR_CACHE.get(size)
    if body is None:
        head = b"<!doctype html><html lang=en><title>floor</title><p>"
        body = _FLOOR_CACHE.setdefault(size, head + b"x" * max(size - len(head), 0))
    return HttpResponse(body, content_type="text/html; charset=utf-8")


urlpatterns = [
    path("bench/peer/proposals/<int:proposal_id>/", peer_proposal),
    path("bench/floor/<int:size>/", floor),
    *lifeboat_urlpatterns,
]
