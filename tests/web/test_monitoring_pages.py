"""The monitoring pages through Django's client: open reading, the committee's actions and their
guards, what each page shows (states, exact values, charts, evidence, responses), and no RPC URL or
credential anywhere."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import Firing, FiringStatus
from tests.factories import UserFactory
from tests.monitoring.sample_monitors import BIG, PAUSE_TX, SECRET_PARTS, VAULT, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _client(role: str | None = None) -> Client:
    client = Client()
    if role == "committee":
        client.force_login(UserFactory(username="pages-committee", committee=True))
    elif role == "executor":
        client.force_login(UserFactory(username="pages-executor", executor=True))
    return client


def _html(response) -> str:
    return response.content.decode()


def _no_secret_in(html: str) -> None:
    for part in SECRET_PARTS:
        assert part not in html, f"{part!r} shown: {html[max(html.find(part) - 150, 0) : html.find(part) + 80]}"


def test_the_overview_reads_without_signing_in_and_shows_states_values_charts_and_firings(world):
    response = _client().get(reverse("monitoring"))

    assert response.status_code == 200
    html = _html(response)
    assert 'aria-current="page">Monitoring' in html
    assert 'data-testid="rpc-host">node.example:8545<' in html
    assert "block 130" in html and "block 128" in html and "2 blocks behind the head" in html
    assert "feed-stale" in html and "vault-drain" in html
    assert "firing (3 failing in a row, fires at 2)" in html
    assert f"{BIG:,}" in html  # the exact uint256, grouped
    assert html.count("<svg") == 2 and 'role="img"' in html
    assert "vault-drain: outflow in base units over the last 12 observations</title>" in html
    assert reverse("monitoring-firing", args=[world.firing.pk]) in html
    assert reverse("committee-incident", args=[world.firing.incident_id]) in html
    assert "1 open firing" in html
    assert 'hx-get="/monitoring/live/"' in html and "htmx.min.js" in html
    _no_secret_in(html)


def test_the_live_part_is_the_same_fragment_without_the_page(world):
    html = _html(_client().get(reverse("monitoring-live")))

    assert html.startswith('<div id="monitoring-live"') and "<html" not in html
    assert "vault-drain" in html
    _no_secret_in(html)


def test_with_nothing_watched_the_overview_says_how_to_start():
    html = _html(_client().get(reverse("monitoring")))

    assert "No deployment is watched yet" in html and "monitor watch-demo" in html
    assert "No open firing" in html


def test_a_rule_page_shows_thresholds_the_larger_chart_and_paginated_observations(world):
    url = reverse("monitoring-rule", args=[world.drain.pk])

    html = _html(_client().get(url))

    assert "max_outflow_bps" in html and "2000" in html and VAULT in html
    assert 'viewBox="0 0 720 280"' in html
    assert "12 observations" in html
    assert html.count('class="failing"') == 3
    assert f"firing {world.firing.pk}".lower() in html.lower()
    _no_secret_in(html)


def test_observations_are_paginated_newest_first():
    world = build_world(observations=60)
    url = reverse("monitoring-rule", args=[world.healthy.pk])

    first, second = _html(_client().get(url)), _html(_client().get(url, {"page": 2}))

    assert "Page 1 of 2: 60 observations" in first and 'rel="next"' in first
    blocks = [int(b) for b in re.findall(r'<td class="nowrap">(\d+)<br>', first)]
    assert blocks == list(range(159, 109, -1))
    assert [int(b) for b in re.findall(r'<td class="nowrap">(\d+)<br>', second)] == list(range(109, 99, -1))


def test_a_firing_page_shows_cause_evidence_incident_responses_and_pauses(world):
    html = _html(_client().get(reverse("monitoring-firing", args=[world.firing.pk])))

    assert 'data-testid="cause">outflow<' in html
    assert "0x" + "ab" * 32 in html  # the evidence's block hash
    assert f"{BIG:,}" in html
    assert PAUSE_TX in html and "block 112" in html
    assert 'data-testid="action-webhook"' in html and "node.example:8545" in html
    assert reverse("committee-incident", args=[world.firing.incident_id]) in html
    assert "resolve-form" not in html and "unpause-form" not in html  # reading only
    _no_secret_in(html)


def test_the_committee_sees_resolve_and_unpause_and_a_resolved_firing_shows_who(world):
    client = _client("committee")
    url = reverse("monitoring-firing", args=[world.firing.pk])
    html = _html(client.get(url))
    assert 'data-testid="resolve-form"' in html
    assert f"Unpause {VAULT}" in html

    response = client.post(
        reverse("monitoring-firing-resolve", args=[world.firing.pk]), {"note": "Paused; see incident."}
    )

    assert response.status_code == 302 and response["Location"] == url
    firing = Firing.objects.get(pk=world.firing.pk)
    assert firing.status == FiringStatus.RESOLVED and firing.resolved_by.username == "pages-committee"
    html = _html(client.get(url))
    assert "resolved" in html and "by pages-committee: Paused; see incident." in html
    assert 'data-testid="resolve-form"' not in html


def test_resolving_by_page_is_guarded_and_explains_a_bad_note(world):
    url = reverse("monitoring-firing-resolve", args=[world.firing.pk])
    anonymous = _client().post(url, {"note": "x"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    wrong = _client("executor").post(url, {"note": "x"})
    assert wrong.status_code == 403 and "needs the committee role" in _html(wrong)

    empty = _client("committee").post(url, {"note": "  "})

    assert empty.status_code == 400
    assert "Note is empty: say why the firing is resolved" in _html(empty) and 'aria-invalid="true"' in _html(empty)
    assert Firing.objects.get(pk=world.firing.pk).status == FiringStatus.OPEN
    resolved = _client("committee").post(reverse("monitoring-firing-resolve", args=[world.resolved.pk]), {"note": "x"})
    assert resolved.status_code == 409 and "resolved already" in _html(resolved)


def test_unpausing_by_page_refuses_a_bad_or_unwatched_address(world):
    client = _client("committee")
    bad = client.post(reverse("monitoring-unpause"), {"contract": "0x123"})
    assert bad.status_code == 400 and 'id="unpause-contract-error"' in _html(bad)
    unwatched = client.post(reverse("monitoring-unpause"), {"contract": "0x" + "12" * 20})
    assert unwatched.status_code == 400 and "is not watched by any monitor" in _html(unwatched)
    wrong = _client("executor").post(reverse("monitoring-unpause"), {"contract": VAULT})
    assert wrong.status_code == 403


def test_the_pause_log_shows_who_paused_and_offers_the_committee_an_unpause(world):
    anonymous = _html(_client().get(reverse("monitoring-pauses")))
    assert PAUSE_TX in anonymous and f"firing {world.firing.pk}" in anonymous
    assert "unpause-form" not in anonymous

    committee = _html(_client("committee").get(reverse("monitoring-pauses")))

    assert 'data-testid="unpause-form"' in committee and f"demo / vault: {VAULT}" in committee
    _no_secret_in(committee)


@pytest.mark.parametrize(("name", "words"), [("monitoring-rule", "monitoring rule"), ("monitoring-firing", "firing")])
def test_an_unknown_rule_or_firing_is_the_sites_404(name, words):
    response = _client().get(reverse(name, args=[987654]))

    assert response.status_code == 404 and words in _html(response) and "987654" in _html(response)


@pytest.mark.chain
def test_the_engine_catching_the_demo_exploit_shows_on_the_pages_and_in_the_api(w3, anvil, exploited, chain_settings):
    from monitoring.engine import run_watched
    from monitoring.models import ResponseKind, Rule, RuleKind, WatchedDeployment

    start = exploited["rollback_block"]
    watched = WatchedDeployment.objects.create(
        name="demo-chain",
        chain_id=int(w3.eth.chain_id),
        rpc_url=anvil.url,
        contracts={"vault": exploited["vault"], "asset": exploited["asset"]},
        last_block=start,
        last_block_hash=w3.eth.get_block(start)["hash"].to_0x_hex(),
    )
    rule = Rule.objects.create(
        watched=watched,
        name="vault-drain",
        kind=RuleKind.DRAIN,
        params={
            "contract": exploited["vault"],
            "asset": exploited["asset"],
            "window_blocks": 5,
            "max_outflow_bps": 2000,
        },
        response=ResponseKind.RECORD,
        consecutive_needed=1,
    )

    run_watched(watched.pk)

    firing = Firing.objects.get(rule=rule)
    exploit_block = w3.eth.get_transaction_receipt(exploited["tx"])["blockNumber"]
    exploit_hash = w3.eth.get_block(exploit_block)["hash"].to_0x_hex()
    overview = _html(_client().get(reverse("monitoring")))
    assert f'data-testid="rule-{rule.pk}" data-state="firing"' in overview
    assert reverse("monitoring-firing", args=[firing.pk]) in overview
    page = _html(_client().get(reverse("monitoring-firing", args=[firing.pk])))
    assert exploit_hash in page and f"{exploit_block}" in page
    api = _client().get(reverse("api-monitoring-firing", args=[firing.pk])).json()
    assert api["evidence"][0]["block_number"] == exploit_block
    assert api["evidence"][0]["block_hash"] == exploit_hash
    assert _client().get(reverse("monitoring-rule", args=[rule.pk])).status_code == 200


# --- the chart (pure) ---


def test_the_chart_places_uint256_values_exactly_and_breaks_the_line_where_the_node_was_silent():
    from monitoring.charts import Point, line_chart_svg

    points = [Point(1, 0, True), Point(2, BIG, False), Point(3, None, False), Point(4, BIG // 2, True)]

    svg = str(line_chart_svg(points, chart_id="t", title="T <x>", description="D", value_label="outflow"))

    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="t-title t-desc"' in svg
    assert '<title id="t-title">T &lt;x&gt;</title>' in svg
    assert f"<title>{BIG:,}</title>115,792…639,935</text>" in svg  # cut to fit, whole in its title
    assert "<title>0</title>0</text>" in svg
    assert "block 1</text>" in svg and "block 4</text>" in svg
    assert svg.count("<polyline") == 1  # the gap at block 3 breaks the line; block 4 stands alone
    assert 'stroke-dasharray="3 3"' in svg and svg.count("<rect") == 1 and svg.count("<circle") == 2
    assert not re.search(r'(?:cx|cy|x|y|x1|y1|x2|y2)="-?\d+\.\d', svg)  # integer coordinates


def test_a_chart_with_no_value_is_empty():
    from monitoring.charts import Point, line_chart_svg

    assert line_chart_svg([Point(1, None, False)], chart_id="t", title="T", description="", value_label="v") == ""
    assert line_chart_svg([], chart_id="t", title="T", description="", value_label="v") == ""
