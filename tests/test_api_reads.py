"""Reads that scale: the accounts of an analysis a page at a time, a plan's batches, and its
allocation tree as a downloadable `standard-v1` dump."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from recovery import plans
from recovery.merkle import StandardMerkleTree
from recovery.models import AccountImpact, Allocation, MigrationBatch, PlanAsset
from tests.factories import analysed_exploit


@pytest.fixture
def plan(anvil, chain_settings, exploited):
    """A restitute-in-full plan of the exploit (vault shares and the underlying both tracked)."""
    analysis = analysed_exploit(
        rpc_url=anvil.url,
        exploited=exploited,
        affected_contracts=[exploited["vault"]],
        tokens=[exploited["vault"], exploited["asset"]],
        from_block=exploited["from_block"],
    )
    # A small gas ceiling makes several batches per asset.
    return plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", gas_ceiling=250_000)


def _all_pages(client: APIClient, url: str, params: dict) -> tuple[list[dict], list[dict]]:
    pages, rows = [], []
    reply = client.get(url, params)
    while True:
        assert reply.status_code == 200, reply.content
        page = reply.json()
        pages.append(page)
        rows.extend(page["results"])
        if page["next"] is None:
            return pages, rows
        reply = client.get(page["next"])


@pytest.mark.django_db
def test_the_accounts_of_an_analysis_come_a_page_at_a_time_with_the_total(plan, exploited):
    client = APIClient()
    url = reverse("analysis-accounts", args=[plan.analysis_id])
    vault = exploited["vault"]
    stored = AccountImpact.objects.filter(analysis_id=plan.analysis_id, asset=vault, kind="balance")
    assert stored.count() > 10
    pages, rows = _all_pages(client, url, {"asset": vault, "page_size": 4})
    assert len(pages) == -(-stored.count() // 4)
    assert all(page["count"] == stored.count() for page in pages)
    assert pages[0]["previous"] is None
    assert pages[1]["previous"] is not None
    assert f"asset={vault}" in pages[0]["next"]
    # Every row once, largest losers first, the asset filter kept across pages.
    assert len({row["account"] for row in rows}) == len(rows) == stored.count()
    assert {row["asset"] for row in rows} == {vault}
    deltas = [int(row["delta"]) for row in rows]
    assert deltas == sorted(deltas)
    assert deltas[0] < 0
    assert all(isinstance(row[key], str) for row in rows for key in ("before", "after", "delta"))


@pytest.mark.django_db
def test_the_accounts_without_a_filter_cover_every_asset_and_the_default_page_is_a_hundred(plan):
    reply = APIClient().get(reverse("analysis-accounts", args=[plan.analysis_id]))
    page = reply.json()
    total = AccountImpact.objects.filter(analysis_id=plan.analysis_id, kind="balance").count()
    assert page["count"] == total
    assert len(page["results"]) == min(total, 100)


@pytest.mark.django_db
def test_a_page_past_the_end_or_a_wrong_kind_is_a_clear_json_error(plan):
    client = APIClient()
    url = reverse("analysis-accounts", args=[plan.analysis_id])
    past = client.get(url, {"page": 999})
    assert past.status_code == 404
    assert past.json()["error"]["code"] == "not_found"
    wrong = client.get(url, {"kind": "nonsense"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["detail"]["field"] == "kind"


@pytest.mark.django_db
def test_the_batches_of_a_plan_list_each_payment_with_amounts_as_strings(plan):
    client = APIClient()
    stored = MigrationBatch.objects.filter(plan_asset__plan=plan)
    assert stored.count() > 2
    with CaptureQueriesContext(connection) as queries:
        _, rows = _all_pages(client, reverse("plan-batches", args=[plan.pk]), {"page_size": 2})
    assert not any("allocation_dump" in q["sql"] or "allocation_nodes" in q["sql"] for q in queries.captured_queries)
    assert len(rows) == stored.count()
    for row in rows:
        batch = stored.get(plan_asset__asset=row["asset"], index=row["index"])
        assert row["recipients"] == batch.recipients
        assert row["amounts"] == [str(amount) for amount in batch.amounts]
        assert all(isinstance(amount, str) for amount in row["amounts"])
        assert sum(int(amount) for amount in row["amounts"]) == int(row["total"]) == batch.total
        assert row["leaf_hash"] == batch.leaf_hash
        assert row["gas_estimate"] == batch.gas_estimate
    assert [(row["asset"], row["index"]) for row in rows] == [
        (b.plan_asset.asset, b.index) for b in stored.select_related("plan_asset").order_by("plan_asset_id", "index")
    ]


@pytest.mark.django_db
def test_the_batches_can_be_read_for_one_asset(plan, exploited):
    reply = APIClient().get(reverse("plan-batches", args=[plan.pk]), {"asset": exploited["vault"]})
    assert reply.status_code == 200
    page = reply.json()
    assert page["count"] > 0
    assert (
        page["count"]
        == MigrationBatch.objects.filter(plan_asset__plan=plan, plan_asset__asset=exploited["vault"]).count()
    )
    assert {row["asset"] for row in page["results"]} == {exploited["vault"]}


@pytest.mark.django_db
def test_the_allocation_tree_downloads_as_a_standard_v1_dump_that_rebuilds_the_root(plan, exploited):
    asset = PlanAsset.objects.get(plan=plan, asset=exploited["vault"])
    with CaptureQueriesContext(connection) as queries:
        reply = APIClient().get(reverse("plan-asset-tree", args=[plan.pk, asset.asset]))
    assert reply.status_code == 200
    assert not any("allocation_nodes" in q["sql"] for q in queries.captured_queries)
    assert reply["Content-Type"] == "application/json"
    assert reply["Content-Disposition"] == (
        f'attachment; filename="lifeboat-plan-{plan.pk}-{asset.asset}-allocation-tree.json"'
    )
    dump = json.loads(reply.content)
    assert dump["format"] == "standard-v1"
    assert StandardMerkleTree.load(dump).root == asset.allocation_root
    assert len(dump["values"]) == Allocation.objects.filter(plan_asset=asset, amount__gt=0).count()


@pytest.mark.django_db
def test_a_tree_of_an_asset_not_in_the_plan_is_404_and_a_bad_address_400(plan, exploited):
    client = APIClient()
    missing = client.get(reverse("plan-asset-tree", args=[plan.pk, exploited["attacker"]]))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "plan_asset_not_found"
    bad = client.get(reverse("plan-asset-tree", args=[plan.pk, "not-an-address"]))
    assert bad.status_code == 400
    assert bad.json()["error"]["detail"]["field"] == "asset"
    assert client.get(reverse("plan-batches", args=[plan.pk + 1000])).json()["error"]["code"] == "plan_not_found"
