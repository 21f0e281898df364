"""What the proposal page keeps in Django's cache, and why a reused id never reads another analysis's numbers.

A completed analysis's loss histogram and losers' count are cached under ``analysis_cache_key``
(its id with its creation and completion times); a document's parsed body under its content hash.
The test suite flushes the database between tests and ids come back, so the tests here build an
analysis, read its page, delete it and build another one *with the same id* and other losses.
No chain: the rows are stored as ``recovery.impact`` stores them, the plan built and frozen by the
services (as ``benchmarks/web_load.py`` does).
"""

import html
import re

import pytest
from django.test import Client
from eth_utils import keccak, to_checksum_address

from proposals.models import ProposalDocument
from proposals.services import freeze_proposal
from recovery.diff import diff_balances, summarize
from recovery.models import AccountImpact, AnalysisStatus, ImpactAnalysis, ImpactKind, RecoveryPlan
from recovery.plans import build_plan
from recovery.storage import bulk_insert
from tests.factories import IncidentFactory
from web import selectors_holders

pytestmark = [pytest.mark.django_db]

ASSET = to_checksum_address("0x" + "11" * 20)
EXPLOITER = to_checksum_address("0x" + "ee" * 20)
_ROW = re.compile(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"')


def _account(i: int) -> str:
    return to_checksum_address(keccak(b"cache" + i.to_bytes(4, "big"))[-20:])


def _frozen(*, losses: list[int], analysis_id: int | None = None) -> ProposalDocument:
    """A completed analysis whose account ``i`` lost ``losses[i]`` (the exploiter gained them), planned and frozen."""
    incident = IncidentFactory(exploiter_addresses=[EXPLOITER], affected_tokens=[ASSET])
    before = {_account(i): 10**24 for i in range(len(losses))} | {EXPLOITER: 0}
    after = {_account(i): 10**24 - loss for i, loss in enumerate(losses)} | {EXPLOITER: sum(losses)}
    deltas = diff_balances(asset=ASSET, before=before, after=after)
    extra = {} if analysis_id is None else {"pk": analysis_id}
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=100,
        reference_block=200,
        tracked_assets=[ASSET],
        status=AnalysisStatus.RUNNING,
        **extra,
    )
    bulk_insert(
        AccountImpact,
        ["analysis", "account", "asset", "kind", "before", "after", "delta"],
        ((analysis.pk, d.account, ASSET, ImpactKind.BALANCE, d.before, d.after, d.delta) for d in deltas),
    )
    analysis.summary = {
        "assets": {ASSET: summarize(deltas, asset=ASSET, exploiters=[EXPLOITER]).as_json()},
        "positions": {},
        "decimals": {ASSET: 18},
        "cross_checked_accounts": 0,
        "price": None,
        "warnings": [],
        "chain_id": 31337,
        "unconfirmed": False,
        "block_hashes": {"rollback": "", "reference": "", "from": ""},
    }
    analysis.status = AnalysisStatus.COMPLETED
    analysis.save()
    plan = build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", recovery_executor="0x" + "22" * 20)
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    return document


def _chart_counts(text: str) -> str:
    """The chart's total, as the page states it: "(N in all)"."""
    match = re.search(r"\(([\d,]+) in all\)", text)
    assert match, text
    return match.group(1)


def test_a_reused_analysis_id_never_reads_the_cached_numbers_of_the_analysis_it_replaced(
    django_assert_max_num_queries,
):
    client = Client()
    first = _frozen(losses=[10**18 + i for i in range(30)])  # 30 losers, all in one decade
    analysis = first.plan.analysis
    key = selectors_holders.analysis_cache_key(analysis)
    assert key is not None and str(analysis.pk) in key

    page = html.unescape(client.get(f"/proposals/{first.pk}/").content.decode())
    assert _chart_counts(page) == "30"
    # Served again, the histogram and the losers' count come from the cache: no query reads them.
    with django_assert_max_num_queries(7) as queries:
        again = html.unescape(client.get(f"/proposals/{first.pk}/").content.decode())
    assert _chart_counts(again) == "30" and _ROW.findall(again) == _ROW.findall(page)
    assert not any("COUNT(" in query["sql"] for query in queries.captured_queries)
    assert selectors_holders.loss_histogram(analysis_id=analysis.pk, asset=ASSET, analysis_key=key) == [
        selectors_holders.HistogramBin(10**18, 10**19, 30)
    ]

    # What a flush between tests does: the rows are gone and the same id comes back with other losses.
    analysis_id = analysis.pk
    ProposalDocument.objects.all().delete()
    RecoveryPlan.objects.all().delete()
    ImpactAnalysis.objects.all().delete()
    second = _frozen(losses=[10**15 + i for i in range(7)] + [10**20], analysis_id=analysis_id)
    assert second.plan.analysis_id == analysis_id
    assert selectors_holders.analysis_cache_key(second.plan.analysis) != key

    text = html.unescape(client.get(f"/proposals/{second.pk}/").content.decode())
    assert _chart_counts(text) == "8"  # not the first analysis's 30
    bins = selectors_holders.loss_histogram(
        analysis_id=analysis_id, asset=ASSET, analysis_key=selectors_holders.analysis_cache_key(second.plan.analysis)
    )
    assert [(b.low, b.accounts) for b in bins] == [(10**15, 7), *((10**k, 0) for k in range(16, 20)), (10**20, 1)]
    shown = _ROW.findall(text)
    assert len(shown) == 8 and shown[0] == _account(7)  # the largest loss first


def test_an_analysis_not_completed_has_no_cache_key_and_is_read_each_time():
    analysis = ImpactAnalysis.objects.create(incident=IncidentFactory(), rollback_block=1, reference_block=2)
    assert selectors_holders.analysis_cache_key(analysis) is None
    for status in (AnalysisStatus.RUNNING, AnalysisStatus.FAILED, AnalysisStatus.CANCELLED):
        analysis.status = status
        assert selectors_holders.analysis_cache_key(analysis) is None
    analysis.status = AnalysisStatus.COMPLETED
    assert selectors_holders.analysis_cache_key(analysis) is not None


def test_every_page_of_the_table_lists_its_slice_of_the_ordered_losers_and_the_cached_count(monkeypatch):
    """The page's ids are selected first (a subquery over the ordered rows): the pages still tile the order."""
    losses = [(i * 7919 % 101 + 1) * 10**16 for i in range(23)]  # ties: ordered by account among equal losses
    document = _frozen(losses=losses)
    ordered = sorted(range(23), key=lambda i: (-losses[i], _account(i)))
    monkeypatch.setattr(selectors_holders, "ACCOUNTS_PER_PAGE", 5)
    client = Client()
    seen = []
    for number in range(1, 6):
        text = html.unescape(client.get(f"/proposals/{document.pk}/", {"page": number}).content.decode())
        assert f"Page {number} of 5" in text
        seen += _ROW.findall(text)
    assert seen == [_account(i) for i in ordered]
    last = html.unescape(client.get(f"/proposals/{document.pk}/", {"page": 99}).content.decode())
    assert _ROW.findall(last) == [_account(i) for i in ordered[20:]]
