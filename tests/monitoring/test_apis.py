"""The monitoring API: open reads (watched deployments, rules, observations, firings, pauses),
committee writes (change a rule, resolve a firing, unpause), the error answers, and no RPC URL or
secret in any answer."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from monitoring.models import Firing, FiringStatus, Rule
from tests.factories import UserFactory
from tests.monitoring.sample_monitors import ASSET, BIG, SECRET_PARTS, VAULT, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _client(role: str | None = None) -> APIClient:
    client = APIClient()
    if role == "committee":
        client.force_authenticate(UserFactory(username="mon-committee", committee=True))
    elif role == "executor":
        client.force_authenticate(UserFactory(username="mon-executor", executor=True))
    return client


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]["message"]


def _no_secret_in(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text, f"{part!r} shown in {text[max(text.find(part) - 150, 0) : text.find(part) + 80]}"


# --- reads, anonymous ---


def test_the_overview_shows_each_deployment_and_rule_with_its_state_and_no_rpc_url(world):
    response = _client().get(reverse("api-monitoring"))

    assert response.status_code == 200
    body = response.json()
    assert body["open_firings"] == 1
    (watched,) = body["watched"]
    assert watched["name"] == "demo" and watched["chain_id"] == 31337
    assert watched["rpc_host"] == "node.example:8545"
    assert "rpc_url" not in watched
    assert watched["head_block"] == 130 and watched["last_block"] == 128
    assert "node.example:8545" in watched["last_error"]
    rules = {rule["name"]: rule for rule in watched["rules"]}
    assert rules["feed-stale"]["state"] == "ok" and rules["feed-stale"]["open_firings"] == []
    drain = rules["vault-drain"]
    assert drain["state"] == "firing" and drain["consecutive_failures"] == 3 and drain["consecutive_needed"] == 2
    assert drain["open_firings"] == [world.firing.pk]
    assert drain["last_observation"]["value"] == str(BIG)  # exact, a string
    assert drain["last_observation"]["block_number"] == 111
    _no_secret_in(response.content.decode())


def test_a_rule_and_its_observations_page_by_page_newest_first(world):
    client = _client()
    rule = client.get(reverse("api-monitoring-rule", args=[world.drain.pk])).json()
    assert rule["params"] == {"contract": VAULT, "asset": ASSET, "window_blocks": 5, "max_outflow_bps": 2000}
    assert rule["pause_targets"] == world.drain.pause_targets

    url = reverse("api-monitoring-rule-observations", args=[world.drain.pk])
    first = client.get(url, {"page_size": 5}).json()
    assert first["count"] == 12 and len(first["results"]) == 5
    assert [o["block_number"] for o in first["results"]] == [111, 110, 109, 108, 107]
    assert first["results"][0]["ok"] is False and first["results"][0]["value"] == str(BIG)
    last = client.get(url, {"page_size": 5, "page": 3}).json()
    assert [o["block_number"] for o in last["results"]] == [101, 100] and last["next"] is None


def test_firings_filtered_by_status_and_rule(world):
    client = _client()
    open_ = client.get(reverse("api-monitoring-firings"), {"status": "open"}).json()
    assert [f["id"] for f in open_["results"]] == [world.firing.pk]
    assert open_["results"][0]["incident"] == world.firing.incident_id
    everything = client.get(reverse("api-monitoring-firings")).json()
    assert {f["id"] for f in everything["results"]} == {world.firing.pk, world.resolved.pk}
    by_rule = client.get(reverse("api-monitoring-firings"), {"rule": world.healthy.pk}).json()
    assert [f["id"] for f in by_rule["results"]] == [world.resolved.pk]


def test_a_firing_shows_its_evidence_responses_and_pauses_without_secrets(world):
    response = _client().get(reverse("api-monitoring-firing", args=[world.firing.pk]))

    assert response.status_code == 200
    body = response.json()
    assert body["cause"] == "outflow" and body["status"] == "open" and body["severity"] == "critical"
    (evidence,) = body["evidence"]
    assert evidence["block_number"] == 110 and evidence["block_hash"] == "0x" + "ab" * 32
    assert evidence["values"]["outflow"] == str(BIG)
    actions = {a["kind"]: a for a in body["actions"]}
    assert actions["pause"]["status"] == "done" and actions["pause"]["block_number"] == 112
    assert actions["webhook"]["attempts"] == 2 and actions["webhook"]["detail"] == {"status_codes": [500, 500]}
    assert "node.example:8545" in actions["webhook"]["last_error"]
    (pause,) = body["pauses"]
    assert pause["action"] == "pause" and pause["contract"] == VAULT and pause["firing"] == world.firing.pk
    _no_secret_in(response.content.decode())


def test_no_answer_carries_the_rpc_url_or_its_credentials(world):
    client = _client()
    urls = [
        reverse("api-monitoring"),
        reverse("api-monitoring-rule", args=[world.drain.pk]),
        reverse("api-monitoring-rule-observations", args=[world.drain.pk]),
        reverse("api-monitoring-firings"),
        reverse("api-monitoring-firing", args=[world.firing.pk]),
        reverse("api-monitoring-pauses"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        _no_secret_in(response.content.decode())


# --- bad reads ---


@pytest.mark.parametrize(
    ("name", "code"), [("api-monitoring-rule", "rule_not_found"), ("api-monitoring-firing", "firing_not_found")]
)
def test_an_unknown_id_is_a_404_naming_it(name, code):
    message = _error(_client().get(reverse(name, args=[987654])), 404, code)
    assert "987654" in message


def test_bad_filters_are_400s_saying_what_is_expected(world):
    client = _client()
    message = _error(client.get(reverse("api-monitoring-firings"), {"status": "closed"}), 400, "invalid_input")
    assert "'closed' is not one of open, resolved" in message
    message = _error(client.get(reverse("api-monitoring-firings"), {"rule": "x"}), 400, "invalid_input")
    assert "rule: a rule id" in message
    _error(client.get(reverse("api-monitoring-rule-observations", args=[987654])), 404, "rule_not_found")


# --- resolve ---


def test_resolving_a_firing_needs_the_committee_role(world):
    url = reverse("api-monitoring-firing-resolve", args=[world.firing.pk])
    _error(_client().post(url, {"note": "checked"}, format="json"), 401, "not_authenticated")
    message = _error(_client("executor").post(url, {"note": "checked"}, format="json"), 403, "role_required")
    assert "needs the committee role" in message
    assert Firing.objects.get(pk=world.firing.pk).status == FiringStatus.OPEN


def test_the_committee_resolves_an_open_firing_with_a_note_once(world):
    client = _client("committee")
    url = reverse("api-monitoring-firing-resolve", args=[world.firing.pk])

    response = client.post(url, {"note": "Vault paused; the exploit is in incident 1."}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "resolved" and body["resolved_by"] == "mon-committee"
    assert body["resolution"] == "Vault paused; the exploit is in incident 1."
    message = _error(client.post(url, {"note": "again"}, format="json"), 409, "firing_not_open")
    assert "resolved already" in message


def test_resolving_without_a_note_or_an_unknown_firing_is_refused(world):
    client = _client("committee")
    url = reverse("api-monitoring-firing-resolve", args=[world.firing.pk])
    assert "note" in _error(client.post(url, {}, format="json"), 400, "invalid_input")
    message = _error(client.post(url, {"note": "   "}, format="json"), 400, "invalid_input")
    assert "note is empty" in message
    message = _error(client.post(url, {"note": "x" * 2001}, format="json"), 400, "invalid_input")
    assert "2000" in message
    unknown = reverse("api-monitoring-firing-resolve", args=[987654])
    _error(client.post(unknown, {"note": "checked"}, format="json"), 404, "firing_not_found")
    assert Firing.objects.get(pk=world.firing.pk).status == FiringStatus.OPEN


# --- change a rule ---


def _patch(client: APIClient, rule_id: int, body: object):
    return client.patch(
        reverse("api-monitoring-rule", args=[rule_id]), json.dumps(body), content_type="application/json"
    )


def test_changing_a_rule_needs_the_committee_role(world):
    _error(_patch(_client(), world.drain.pk, {"enabled": False}), 401, "not_authenticated")
    _error(_patch(_client("executor"), world.drain.pk, {"enabled": False}), 403, "role_required")
    assert Rule.objects.get(pk=world.drain.pk).enabled is True


def test_the_committee_changes_severity_response_debounce_and_enabled(world):
    response = _patch(
        _client("committee"),
        world.healthy.pk,
        {"severity": "critical", "response": "incident", "consecutive_needed": 3, "enabled": False},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["severity"], body["response"], body["consecutive_needed"], body["enabled"]) == (
        "critical",
        "incident",
        3,
        False,
    )
    rule = Rule.objects.get(pk=world.healthy.pk)
    assert (rule.severity, rule.response, rule.consecutive_needed, rule.enabled) == ("critical", "incident", 3, False)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"severity": "apocalyptic"}, "severity", "apocalyptic"),
        ({"response": "panic"}, "response", "panic"),
        ({"consecutive_needed": 0}, "consecutive_needed", "greater than or equal to 1"),
        ({"consecutive_needed": 10**6}, "consecutive_needed", "less than or equal to 1000"),
        ({"enabled": "maybe"}, "enabled", "boolean"),
        ({"kind": "drain"}, "kind", "not a field a rule update may change"),
        ({"state": "ok"}, "state", "not a field a rule update may change"),
        ({"params": [1, 2]}, "params", "dictionary"),
        ({"pause_targets": ["0x123"]}, "pause_targets", "0x123"),
        ({"response": "pause"}, "pause_targets", "pause_targets is empty"),
        ({}, "non_field_errors", "nothing to change"),
        ([], "non_field_errors", "JSON object"),
    ],
)
def test_a_bad_rule_change_is_a_400_naming_the_field_and_saves_nothing(world, body, field, words):
    response = _patch(_client("committee"), world.healthy.pk, body)

    message = _error(response, 400, "invalid_input")
    assert response.json()["error"]["detail"]["field"].startswith(field)  # pause_targets[0] names the item
    assert words in message, message
    rule = Rule.objects.get(pk=world.healthy.pk)
    assert (rule.severity, rule.response, rule.consecutive_needed) == ("warning", "notify", 2)


def test_changing_an_unknown_rule_is_a_404(world):
    _error(_patch(_client("committee"), 987654, {"enabled": False}), 404, "rule_not_found")


def test_thresholds_are_merged_and_checked_by_the_rule_kinds_validation(world):
    client = _client("committee")

    response = _patch(client, world.healthy.pk, {"params": {"grace_seconds": 120}})

    assert response.status_code == 200, response.content
    assert response.json()["params"]["grace_seconds"] == 120
    assert response.json()["params"]["heartbeat_seconds"] == 3600  # kept
    response = _patch(client, world.healthy.pk, {"params": {"heartbeat_seconds": -5}})
    assert "heartbeat_seconds" in _error(response, 400, "invalid_rule_params")
    assert response.json()["error"]["detail"]["field"] == "heartbeat_seconds"
    message = _error(_patch(client, world.healthy.pk, {"params": {"window": 3}}), 400, "invalid_rule_params")
    assert "'window'" in message
    assert Rule.objects.get(pk=world.healthy.pk).params["heartbeat_seconds"] == 3600


# --- unpause (the guards and bad input; the chain part is in test_apis_unpause.py) ---


def test_unpausing_needs_the_committee_role(world):
    url = reverse("api-monitoring-unpause")
    _error(_client().post(url, {"contract": VAULT}, format="json"), 401, "not_authenticated")
    _error(_client("executor").post(url, {"contract": VAULT}, format="json"), 403, "role_required")


def test_unpausing_a_bad_or_unwatched_address_is_a_400(world):
    client = _client("committee")
    url = reverse("api-monitoring-unpause")
    assert "contract" in _error(client.post(url, {}, format="json"), 400, "invalid_input")
    _error(client.post(url, {"contract": "0x123"}, format="json"), 400, "invalid_input")
    message = _error(client.post(url, {"contract": "0x" + "12" * 20}, format="json"), 400, "invalid_input")
    assert "not watched" in message


def test_the_overview_takes_the_same_queries_for_two_rules_or_twelve(world, django_assert_max_num_queries):
    from monitoring.models import Rule, RuleKind

    client = _client()
    with django_assert_max_num_queries(6) as few:
        client.get(reverse("api-monitoring"))
    for i in range(10):
        Rule.objects.create(watched=world.watched, name=f"extra-{i}", kind=RuleKind.BLOCK_STALL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(reverse("api-monitoring")).json()["watched"][0]["rules"]) == 12
