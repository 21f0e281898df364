"""Margin policies (issue 16, part 4) through the plans API: each account's lost net value paid pro
rata, capped (Euler's 1005/1000), the remainder to a second class; the new terms refused cleanly."""

import pytest
from eth_utils import to_checksum_address
from rest_framework.test import APIClient

from recovery.models import (
    AnalysisStatus,
    ImpactAnalysis,
    MarginAccountImpact,
    PlanAsset,
    RecoveryPlan,
)
from tests.factories import IncidentFactory, UserFactory
from tests.recovery.test_margin_impact import _compute, wrong_price  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

MARKET = to_checksum_address("0x" + "4d" * 20)
EXECUTOR = to_checksum_address("0x" + "e0" * 20)
EXPLOITER = to_checksum_address("0x" + "66" * 20)
# Net value (USD, 6 decimals) at the rollback block and at the reference block.
BOOK = {
    to_checksum_address(f"0x{n:040x}"): values
    for n, values in enumerate(
        [
            (1_000_000_000, 0),  # liquidated: lost all of it
            (3_000_000_000, 1_000_000_000),  # lost two thirds
            (2_000_000_000, 0),
            (500_000_000, 600_000_000),  # gained: no claim
            (-100_000_000, -300_000_000),  # under water before: nothing to lose
            (700_000_000, 0),
        ],
        start=1,
    )
}
ACCOUNTS = list(BOOK)


def _client(**role: bool) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(**role))
    return client


@pytest.fixture
def margin_analysis() -> ImpactAnalysis:
    """A completed analysis of one margin market, its accounts valued as in ``BOOK``."""
    incident = IncidentFactory(
        title="Margin market liquidated at a wrong price", kind="oracle_failure", exploiter_addresses=[EXPLOITER]
    )
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=10,
        reference_block=20,
        tracked_assets=[MARKET],
        position_readers={MARKET: "margin_market"},
        status=AnalysisStatus.COMPLETED,
        summary={"decimals": {MARKET: 6}},
    )
    for account, (before, after) in [*BOOK.items(), (EXPLOITER, (50_000_000, 0))]:
        MarginAccountImpact.objects.create(
            analysis=analysis,
            market=MARKET,
            account=account,
            net_value_before=before,
            net_value_after=after,
            lost_net_value=before - after,
            health_factor_before=2 * 10**18,
            pnl_before=0,
            collateral_before=max(before, 0),
            debt_before=0,
            liquidated=after == 0,
        )
    return analysis


def _build(analysis: ImpactAnalysis, client: APIClient | None = None, **terms):
    body = {"mode": "restitute", "policy": "pro_rata", "recovery_executor": EXECUTOR, "delivery": "push", **terms}
    return (client or _client(committee=True)).post(f"/api/analyses/{analysis.pk}/plans/", body, format="json")


def test_lost_net_value_is_paid_capped_to_the_first_class_and_the_rest_to_the_second(margin_analysis):
    # Claims (lost net value): 1,000 / 2,000 / 2,000 / 700 USD; capped at 1.005x: 1,005 / 2,010 / 2,010 / 703.5.
    # The first class (accounts 1, 2, 3) is entitled to 5,025 USD; a budget of 5,400 leaves 375 to the
    # second class (account 6, entitled to 703.5), and no surplus.
    second = ACCOUNTS[5]
    reply = _build(
        margin_analysis,
        budgets={MARKET: "5400000000"},
        second_class=[second.lower()],
        cap_numerator=1005,
        cap_denominator=1000,
    )
    assert reply.status_code == 201, reply.content
    body = reply.json()
    assert (body["second_class"], body["cap_numerator"], body["cap_denominator"]) == ([second], "1005", "1000")
    plan = RecoveryPlan.objects.get(pk=body["id"])
    assert (plan.second_class, plan.cap_numerator, plan.cap_denominator) == ([second], 1005, 1000)
    amounts = {a.account: (a.claim, a.amount) for a in PlanAsset.objects.get(plan=plan).allocations.all()}
    assert amounts == {
        ACCOUNTS[0]: (1_000_000_000, 1_005_000_000),
        ACCOUNTS[1]: (2_000_000_000, 2_010_000_000),
        ACCOUNTS[2]: (2_000_000_000, 2_010_000_000),
        second: (700_000_000, 375_000_000),
    }
    summary = plan.summary["assets"][MARKET]
    assert (summary["total_allocated"], summary["surplus"], summary["second_class_allocated"]) == (
        "5400000000",
        "0",
        "375000000",
    )
    assert summary["excluded"][0]["account"] == EXPLOITER
    assert plan.summary["second_class"] == [second]
    assert plan.summary["cap"] == {"numerator": "1005", "denominator": "1000"}


def test_building_with_a_second_class_needs_the_committee_role(margin_analysis):
    for client, status in ((APIClient(), (401, 403)), (_client(executor=True), (403,))):
        reply = _build(
            margin_analysis, client, budgets={MARKET: "1000"}, second_class=[ACCOUNTS[0]], cap_numerator=1005
        )
        assert reply.status_code in status, reply.content
    assert not RecoveryPlan.objects.exists()


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"second_class": ["0x1234"]}, "second_class", "address"),
        ({"second_class": "0x" + "01" * 20}, "second_class", ""),
        ({"second_class": [ACCOUNTS[3]]}, "second_class", "has no claim"),  # gained value: not affected
        ({"second_class": [to_checksum_address("0x" + "77" * 20)]}, "second_class", "has no claim"),
        ({"second_class": [EXPLOITER]}, "second_class", "excludes"),
        ({"second_class": [ACCOUNTS[0]], "exclusions": [ACCOUNTS[0]]}, "second_class", "excludes"),
        ({"second_class": [ACCOUNTS[0], ACCOUNTS[0].lower()]}, "second_class", "twice"),
        ({"second_class": [ACCOUNTS[0]], "policy": "full"}, "second_class", "pro_rata"),
        ({"cap_numerator": 1005, "cap_denominator": 1000, "policy": "full"}, "cap_numerator", "pro_rata"),
        ({"cap_numerator": 1005}, "cap_denominator", "whole number"),
        ({"cap_numerator": 0, "cap_denominator": 1000}, "cap_numerator", "whole number"),
        ({"cap_numerator": 999, "cap_denominator": 1000}, "cap_numerator", "below 1"),
        ({"cap_numerator": "1.005", "cap_denominator": 1}, "cap_numerator", ""),
    ],
)
def test_bad_class_terms_are_refused_with_their_field_and_store_nothing(margin_analysis, terms, field, message):
    reply = _build(margin_analysis, **{"budgets": {MARKET: "5400000000"}, **terms})

    assert reply.status_code == 400, reply.content
    error = reply.json()["error"]
    assert error["detail"]["field"].split("[")[0] == field, error  # second_class[0]: the entry at fault
    assert message in str(error)
    assert not RecoveryPlan.objects.exists() and not PlanAsset.objects.exists()


def test_a_restore_positions_plan_refuses_a_second_class_and_a_cap(margin_analysis):
    for terms, field in (({"second_class": [ACCOUNTS[0]]}, "second_class"), ({"cap_numerator": 2}, "cap_numerator")):
        reply = _build(
            margin_analysis, mode="restore_positions", policy="full", venue="0x" + "22" * 20, delivery=None, **terms
        )
        assert reply.status_code == 400, reply.content
        assert reply.json()["error"]["detail"]["field"] == field and "restore_positions" in str(reply.json())
    assert not RecoveryPlan.objects.exists()


# --- on anvil: the analysis' own valuation is what the plan pays --------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_plan_pays_the_unfairly_liquidated_their_capped_lost_net_value(anvil, w3, wrong_price):  # noqa: F811
    analysis = _compute(anvil, w3, wrong_price)
    market = wrong_price["market"].address
    lost = {
        row.account: max(0, row.net_value_before) - max(0, row.net_value_after)
        for row in MarginAccountImpact.objects.filter(analysis=analysis)
    }
    losers = sorted((a for a, amount in lost.items() if amount > 0), key=str.lower)
    assert len(losers) > 2
    second = [max(losers, key=lambda a: (lost[a], a.lower()))]  # the largest loss, so half of it is not dust
    losers = [a for a in losers if a != second[0]] + second
    first_entitled = sum(lost[a] * 1005 // 1000 for a in losers[:-1])
    budget = first_entitled + lost[second[0]] // 2  # the second class gets half its claim

    reply = _build(
        analysis,
        recovery_executor=wrong_price["demo"].address("recovery_executor"),
        budgets={market: str(budget)},
        second_class=second,
        cap_numerator=1005,
        cap_denominator=1000,
    )
    assert reply.status_code == 201, reply.content
    plan_asset = PlanAsset.objects.get(plan_id=reply.json()["id"])
    paid = {a.account: a.amount for a in plan_asset.allocations.all()}
    assert paid == {
        **{a: lost[a] * 1005 // 1000 for a in losers[:-1]},
        second[0]: lost[second[0]] // 2,
    }
    assert sum(paid.values()) == budget == int(plan_asset.total_allocated)


def test_the_plan_editor_takes_the_second_class_and_the_cap(margin_analysis, settings):
    """The committee's editor builds the same capped, two-class plan; a bad second class comes back
    on its field with nothing stored."""
    import html

    from django.test import Client
    from django.urls import reverse

    from tests.factories import PASSWORD

    user = UserFactory(committee=True)
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    url = reverse("committee-plan-new", args=[margin_analysis.pk])
    editor = html.unescape(client.get(url).content.decode())
    assert "Second class" in editor and "Cap numerator" in editor
    data = {
        "mode": "restitute",
        "policy": "pro_rata",
        "dust_threshold": "0",
        "gas_ceiling": "10000000",
        "change_count": "0",
        "delivery": "push",
        "recovery_executor": EXECUTOR,
        "budget_0": "5400000000",
        "cap_numerator": "1005",
        "cap_denominator": "1000",
    }
    refused = client.post(url, {**data, "second_class": f"{EXPLOITER} the exploiter"})
    assert refused.status_code == 400
    page = html.unescape(refused.content.decode())
    assert 'id="id_second_class_error"' in page and EXPLOITER in page
    assert not RecoveryPlan.objects.exists()

    built = client.post(url, {**data, "second_class": f"{ACCOUNTS[5]}  paid last\n"})
    assert built.status_code == 302, html.unescape(built.content.decode())
    plan = RecoveryPlan.objects.get()
    assert (plan.second_class, plan.cap_numerator, plan.cap_denominator) == ([ACCOUNTS[5]], 1005, 1000)
    paid = {a.account: int(a.amount) for a in PlanAsset.objects.get(plan=plan).allocations.all()}
    assert paid[ACCOUNTS[5]] == 375_000_000 and sum(paid.values()) == 5_400_000_000
    detail = html.unescape(client.get(built["Location"]).content.decode())
    assert "each payment at most claim * 1005 / 1000, rounded down" in detail
    assert ACCOUNTS[5] in detail and "375000000 base units to 1 recipient" in detail

    # Voters read the cap and the second class in the frozen document, and its hashed JSON has them.
    import json

    from proposals.services import freeze_proposal

    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=user)
    assert "capped at its claim * 1005 / 1000, rounded down" in document.body
    assert f"Second class, paid pro rata only from what the other claimants leave under the cap: {ACCOUNTS[5]}." in (
        document.body
    )
    frozen = json.loads(bytes(document.canonical_json))["plan"]
    assert (frozen["cap"], frozen["second_class"]) == ({"numerator": "1005", "denominator": "1000"}, [ACCOUNTS[5]])
