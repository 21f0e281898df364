"""The plan editor in restore-positions mode: the venue field, the plan it builds (the API's, for the same
input) and the refusals it puts back on the venue field, with nothing stored.

A real analysis of the demo margin market on the session's anvil (tests/proposals/test_rehearsal_positions.py):
positions seeded, the price dropped, the liquidatable accounts liquidated.
"""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from recovery.models import MigrationBatch, PlanAsset, PlanMode, RecoveryPlan
from tests.factories import PASSWORD, UserFactory
from tests.proposals.test_rehearsal_positions import SMALL_BATCHES, liquidated, margin_analysis  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _client(**role: bool) -> Client:
    client = Client()
    assert client.login(username=UserFactory(**role).username, password=PASSWORD)
    return client


def _editor_data(**extra: str) -> dict[str, str]:
    return {
        "mode": "restore_positions",
        "policy": "full",
        "dust_threshold": "0",
        "gas_ceiling": str(SMALL_BATCHES),
        "change_count": "2",
        "change_0_value": "0",
        "change_1_value": "0",
        **extra,
    }


@pytest.fixture
def analysis(w3, liquidated, chain_settings):  # noqa: F811 - the fixture imported above
    return margin_analysis(w3, liquidated)


def test_the_editor_builds_a_restore_positions_plan_on_the_venue_and_its_page_shows_every_position(
    analysis,
    liquidated,  # noqa: F811
):
    venue = liquidated["demo"].address("migrated_margin_market")
    client = _client(committee=True)
    editor = _text(client.get(reverse("committee-plan-new", args=[analysis.pk])))
    assert 'value="restore_positions"' in editor
    assert "Restore each margin position at the rollback block on a migrated venue" in editor
    assert 'name="venue"' in editor and "Venue: the migrated margin market" in editor

    response = client.post(reverse("committee-plan-new", args=[analysis.pk]), _editor_data(venue=venue))

    assert response.status_code == 302, _text(response)
    plan = RecoveryPlan.objects.get()
    assert response["Location"] == reverse("committee-plan", args=[plan.pk])
    assert plan.mode == PlanMode.RESTORE_POSITIONS and plan.delivery == "push"
    plan_asset = plan.assets.get()
    assert (plan_asset.asset, plan_asset.venue) == (liquidated["market"].address, venue)
    rows = [row for batch in plan_asset.batches.order_by("index") for row in batch.positions]
    assert len(rows) > 4 and plan_asset.batches.count() > 1

    page = _text(client.get(response["Location"]))
    assert re.search(rf'data-testid="plan-venue">{venue}<', page)
    assert page.count('data-testid="plan-position"') == len(rows)
    for row in rows:
        assert row["account"] in page
    assert f'<td class="num">{rows[0]["funding_debt"]}</td>' in page


@pytest.mark.parametrize(
    ("venue", "message"),
    [
        ("", "needs its venue"),
        ("not an address", "not an address"),
        ("0x" + "12" * 20, "has no contract code"),
        ("asset", "is not a margin market"),
        ("margin_market", "is the analysed market itself"),
    ],
)
def test_a_bad_venue_comes_back_on_the_venue_field_and_nothing_is_stored(analysis, liquidated, venue, message):  # noqa: F811
    if venue in ("asset", "margin_market"):
        venue = liquidated["demo"].address(venue)
    response = _client(committee=True).post(
        reverse("committee-plan-new", args=[analysis.pk]), _editor_data(venue=venue)
    )
    assert response.status_code == 400, _text(response)
    page = _text(response)
    error = re.search(r'id="id_venue_error" role="alert">([^<]*)<', page)
    assert error is not None and message in error.group(1), page
    assert 'aria-invalid="true"' in page
    assert not RecoveryPlan.objects.exists() and not PlanAsset.objects.exists() and not MigrationBatch.objects.exists()


def test_a_venue_with_another_mode_is_refused_on_the_venue_field(analysis, liquidated):  # noqa: F811
    venue = liquidated["demo"].address("migrated_margin_market")
    response = _client(committee=True).post(
        reverse("committee-plan-new", args=[analysis.pk]), _editor_data(mode="restore", venue=venue)
    )
    assert response.status_code == 400
    error = re.search(r'id="id_venue_error" role="alert">([^<]*)<', _text(response))
    assert error is not None and "restore_positions plans only" in error.group(1)
    assert not RecoveryPlan.objects.exists()


def test_only_the_committee_may_build_a_restore_positions_plan(analysis, liquidated):  # noqa: F811
    venue = liquidated["demo"].address("migrated_margin_market")
    url = reverse("committee-plan-new", args=[analysis.pk])
    response = _client(executor=True).post(url, _editor_data(venue=venue))
    assert response.status_code == 403
    assert not RecoveryPlan.objects.exists()
