"""Bulk row writes: exact amounts in, bad rows refused whole, deletes still cascade."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from recovery.fields import INT256_MIN, UINT256_MAX
from recovery.models import AccountImpact, ImpactAnalysis, Incident
from recovery.storage import bulk_insert

COLUMNS = ["analysis", "account", "asset", "kind", "before", "after", "delta"]
ASSET = "0x" + "11" * 20


@pytest.fixture
def analysis(db) -> ImpactAnalysis:
    incident = Incident.objects.create(title="t", kind="other", chain_id=1)
    return ImpactAnalysis.objects.create(incident=incident, rollback_block=1, reference_block=2)


def _account(i: int) -> str:
    return "0x" + f"{i:040x}"


def test_bulk_rows_keep_every_digit(analysis):
    rows = [
        (analysis.pk, _account(1), ASSET, "balance", UINT256_MAX, 0, INT256_MIN + 1),
        (analysis.pk, _account(2), ASSET, "balance", 10**18 + 1, 10**18, -1),
        (analysis.pk, _account(3), ASSET, "position", 0, 2**200 + 3, 2**200 + 3),
    ]
    assert bulk_insert(AccountImpact, COLUMNS, rows) == 3
    stored = sorted(AccountImpact.objects.values_list("account", "kind", "before", "after", "delta"))
    assert stored == sorted((r[1], r[3], r[4], r[5], r[6]) for r in rows)


@pytest.mark.parametrize(
    "bad",
    [
        (2**256, 0, 0),
        (-1, 0, 0),
        (1, 1, 2**256),  # a delta beyond any difference of two uint256
        (1.5, 0, 0),
    ],
)
def test_a_row_out_of_range_refuses_the_whole_write(analysis, bad):
    rows = [
        (analysis.pk, _account(1), ASSET, "balance", 5, 5, 0),
        (analysis.pk, _account(2), ASSET, "balance", *bad),
    ]
    with pytest.raises(ValidationError), transaction.atomic():
        bulk_insert(AccountImpact, COLUMNS, rows)
    assert AccountImpact.objects.count() == 0


def test_deleting_an_analysis_deletes_its_rows(analysis):
    bulk_insert(AccountImpact, COLUMNS, [(analysis.pk, _account(i), ASSET, "balance", i, 0, -i) for i in range(1, 50)])
    analysis.delete()
    assert AccountImpact.objects.count() == 0
