"""The committee's pages: incidents, analyses with live progress, the plan editor and the plan page.

Who may use them (every page and POST, for each kind of visitor), what the forms write (the same
rows the API writes for the same input), and what they refuse (the message on its field, 400/409,
nothing written).
"""

import html
import json
import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from recovery.models import AnalysisStatus, ImpactAnalysis, Incident, RecoveryPlan
from tests.factories import PASSWORD, IncidentFactory, UserFactory, analysed_exploit

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own example
TX = "0x" + "ab" * 32

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _committee() -> Client:
    return _signed_in(UserFactory(committee=True))


def _holder() -> Client:
    client = Client()
    session = client.session
    session["holder_address"] = ADDRESS
    session.save()
    return client


@pytest.fixture
def rows(db):
    incident = IncidentFactory(title="Oracle stuck", affected_tokens=[ADDRESS])
    analysis = ImpactAnalysis.objects.create(
        incident=incident, rollback_block=1, reference_block=2, tracked_assets=[ADDRESS], blocks_total=6
    )
    plan = RecoveryPlan.objects.create(incident=incident, analysis=analysis, version=1, mode="restitute", policy="full")
    return incident, analysis, plan


def _pages(incident, analysis, plan) -> list[str]:
    return [
        reverse("committee-incidents"),
        reverse("committee-incident-new"),
        reverse("committee-incident", args=[incident.pk]),
        reverse("committee-analysis", args=[analysis.pk]),
        reverse("committee-analysis-progress", args=[analysis.pk]),
        reverse("committee-plan-new", args=[analysis.pk]),
        reverse("committee-plan", args=[plan.pk]),
        reverse("committee-plan-abi", args=["RecoveryExecutor"]),
    ]


def _posts(incident, analysis) -> list[tuple[str, dict]]:
    return [
        (reverse("committee-incident-new"), {"title": "x", "kind": "other", "chain_id": "1"}),
        (reverse("committee-analysis-new", args=[incident.pk]), {"rollback_block": "1", "reference_block": "2"}),
        (reverse("committee-analysis-cancel", args=[analysis.pk]), {}),
        (reverse("committee-plan-new", args=[analysis.pk]), {"mode": "restitute", "policy": "full"}),
        (reverse("committee-plan-preview"), {}),
    ]


def _state() -> tuple:
    return (
        Incident.objects.count(),
        ImpactAnalysis.objects.count(),
        RecoveryPlan.objects.count(),
        list(ImpactAnalysis.objects.values_list("status", "cancel_requested")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "holder"])
def test_anonymous_and_holders_are_sent_to_the_staff_sign_in_for_every_page_and_post(rows, who):
    client = Client() if who == "anonymous" else _holder()
    before = _state()
    for url in _pages(*rows):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    for url, data in _posts(*rows[:2]):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    assert _state() == before


@pytest.mark.django_db
def test_an_executor_gets_the_403_page_naming_the_committee_role_and_changes_nothing(rows):
    client = _signed_in(UserFactory(executor=True))
    before = _state()
    for url in _pages(*rows):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "needs the committee role" in _text(response)
    for url, data in _posts(*rows[:2]):
        assert client.post(url, data).status_code == 403, url
    assert _state() == before


@pytest.mark.django_db
def test_a_committee_member_sees_every_page(rows):
    _incident, analysis, _plan = rows
    client = _committee()
    for url in _pages(*rows):
        assert client.get(url).status_code == 200, url
    listing = _text(client.get(reverse("committee-incidents")))
    assert "Oracle stuck" in listing and "Open an incident" in listing
    assert f"#{analysis.pk}</a> pending" in listing and "version 1" in listing
    # The page's own nav marker and the live part of a pending analysis, polled by htmx.
    page = _text(client.get(reverse("committee-analysis", args=[analysis.pk])))
    assert 'aria-current="page">Incidents' in page
    assert 'hx-trigger="every 2s"' in page and "0 of 6 blocks scanned" in page
    assert "Cancel the analysis" in page


@pytest.mark.django_db
def test_posts_without_a_csrf_token_are_refused(rows):
    user = UserFactory(committee=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = _state()
    for url, data in _posts(*rows[:2]):
        assert client.post(url, data).status_code == 403, url
    assert _state() == before


@pytest.mark.django_db
def test_unknown_ids_are_404_pages(rows):
    client = _committee()
    for url in [
        reverse("committee-incident", args=[9999]),
        reverse("committee-analysis", args=[9999]),
        reverse("committee-analysis-progress", args=[9999]),
        reverse("committee-plan-new", args=[9999]),
        reverse("committee-plan", args=[9999]),
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "9999" in _text(response)
    assert client.post(reverse("committee-analysis-new", args=[9999]), {}).status_code == 404
    assert client.post(reverse("committee-analysis-cancel", args=[9999])).status_code == 404
    assert client.get(reverse("committee-plan-abi", args=["NoSuchContract"])).status_code == 404
    assert client.get("/plans/abi/..%2F..%2Fsettings/").status_code == 404


# ---------------------------------------------------------------- opening an incident

GOOD_INCIDENT = {
    "title": "Vault drained",
    "kind": "protocol_exploit",
    "chain_id": "31337",
    "affected_contracts": ADDRESS,
    "affected_tokens": f"{ADDRESS}\n",
    "exploiter_addresses": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "exploit_transactions": TX,
    "detected_block": "12",
    "description": "Three holders in four lost their shares.",
}


@pytest.mark.django_db
def test_opening_an_incident_stores_what_the_api_stores_and_shows_it():
    client = _committee()
    response = client.post(reverse("committee-incident-new"), GOOD_INCIDENT)
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("committee-incident", args=[incident.pk])
    api = APIClient()
    api.force_authenticate(UserFactory(committee=True))
    payload = {**GOOD_INCIDENT, "chain_id": 31337, "detected_block": 12}
    for key in ("affected_contracts", "affected_tokens", "exploiter_addresses", "exploit_transactions"):
        payload[key] = [line for line in payload[key].splitlines() if line]
    assert api.post("/api/incidents/", payload, format="json").status_code == 201
    by_api = Incident.objects.exclude(pk=incident.pk).get()
    fields = [
        "title", "kind", "chain_id", "description", "affected_contracts", "affected_tokens",
        "detected_block", "exploit_transactions", "exploiter_addresses", "status",
    ]  # fmt: skip
    assert [getattr(incident, f) for f in fields] == [getattr(by_api, f) for f in fields]
    assert incident.opened_via == "web"
    page = _text(client.get(response["Location"]))
    assert "Vault drained" in page and ADDRESS in page and TX in page
    assert "Run the analysis" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "   ", "required"),
        ("kind", "earthquake", "earthquake"),
        ("chain_id", "0", "greater than or equal to 1"),
        ("chain_id", str(2**64), "less than or equal to"),
        ("affected_tokens", ADDRESS.lower(), "not checksummed"),
        ("affected_contracts", "0x1234", "0x1234"),
        ("exploiter_addresses", f"{ADDRESS}\n{ADDRESS}", "twice"),
        ("exploit_transactions", "0xabc", "not a transaction hash"),
        ("detected_block", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_incident_field_comes_back_with_its_message_and_nothing_is_written(field, value, message):
    client = _committee()
    response = client.post(reverse("committee-incident-new"), {**GOOD_INCIDENT, field: value})
    assert response.status_code == 400
    page = _text(response)
    error = re.search(rf'<p class="field-error" id="id_{field}_error" role="alert">([^<]*)</p>', page)
    assert error is not None, page
    assert message in error.group(1)
    control = re.search(rf'<[^>]+id="id_{field}"[^>]*>', page).group(0)
    assert f"id_{field}_error" in control and 'aria-invalid="true"' in control
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_the_new_incident_form_defaults_to_the_configured_chain(settings):
    settings.CHAIN_ID = 8453
    page = _text(_committee().get(reverse("committee-incident-new")))
    assert re.search(r'<input[^>]*name="chain_id"[^>]*value="8453"', page)
    assert '<label for="id_affected_tokens">Affected tokens</label>' in page


# ---------------------------------------------------------------- the editor's JSON helpers


@pytest.mark.django_db
def test_the_abi_endpoint_gives_a_compiled_contracts_state_changing_functions_with_named_inputs():
    body = _committee().get(reverse("committee-plan-abi", args=["DemoPriceFeed"])).json()
    functions = {f["signature"]: f for f in body["functions"]}
    assert "setAnswer(int256)" in functions
    assert functions["setAnswer(int256)"]["inputs"] == [{"name": "answer", "type": "int256"}]
    assert functions["setAnswer(int256)"]["choice"] == "DemoPriceFeed:setAnswer(int256)"
    assert not any(name.startswith("latestRoundData") for name in functions)  # a view
    arrays = _committee().get(reverse("committee-plan-abi", args=["BareDisperse"])).json()
    disperse = next(f for f in arrays["functions"] if f["name"] == "disperse")
    assert [(i["name"], i["type"]) for i in disperse["inputs"]] == [
        ("token", "address"),
        ("recipients", "address[]"),
        ("amounts", "uint256[]"),
    ]


@pytest.mark.django_db
def test_the_preview_endpoint_encodes_as_the_plan_does_and_decodes_back():
    client = _committee()
    url = reverse("committee-plan-preview")
    body = {"target": ADDRESS, "function": "DemoPriceFeed:setAnswer(int256)", "args": ["-5"], "value": "0"}
    answer = client.post(url, json.dumps(body), content_type="application/json")
    assert answer.status_code == 200
    result = answer.json()
    assert result["ok"] is True
    assert result["signature"] == "setAnswer(int256)"
    assert result["decoded"]["args"] == ["-5"]
    assert result["calldata"].startswith("0x") and len(result["calldata"]) == 2 + 8 + 64
    refused = client.post(
        url,
        json.dumps({"target": ADDRESS, "signature": "setFee(uint8)", "args": ["300"]}),
        content_type="application/json",
    )
    # Not encodable is a preview's normal answer (no console error in the browser), not a failed request.
    assert refused.status_code == 200
    assert refused.json()["ok"] is False
    assert "300" in refused.json()["error"]["message"]
    unknown = client.post(url, json.dumps({"target": ADDRESS, "function": "Nope:f()"}), content_type="application/json")
    assert unknown.status_code == 200
    assert unknown.json() == {"ok": False, "error": {"message": "Nope:f() is not a function of a compiled contract"}}
    # A body that is not one JSON object is a bad request.
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    assert client.post(url, "[1]", content_type="application/json").status_code == 400


# ---------------------------------------------------------------- analyses on the exploited demo


def _wait_until_finished(client: Client, analysis_id: int, *, seconds: float = 240) -> str:
    """Poll the progress fragment as htmx does, until it stops asking to be polled."""
    deadline = time.monotonic() + seconds
    while True:
        fragment = _text(client.get(reverse("committee-analysis-progress", args=[analysis_id])))
        if "hx-trigger" not in fragment or time.monotonic() > deadline:
            return fragment
        time.sleep(0.5)


@pytest.mark.chain
def test_running_an_analysis_from_the_incident_page_queues_it_and_the_page_follows_it_to_the_summary(
    anvil, exploited, chain_settings, celery_worker, settings
):
    settings.CONFIRMATION_DEPTH = 0
    client = _committee()
    incident = IncidentFactory(
        title="Demo vault drained",
        affected_tokens=[exploited["vault"]],
        exploiter_addresses=[exploited["attacker"], exploited["drainer"]],
    )
    response = client.post(
        reverse("committee-analysis-new", args=[incident.pk]),
        {
            "rollback_block": exploited["rollback_block"],
            "reference_block": exploited["reference_block"],
            "from_block": exploited["from_block"],
        },
    )
    analysis = ImpactAnalysis.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("committee-analysis", args=[analysis.pk])
    fragment = _wait_until_finished(client, analysis.pk)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert "hx-trigger" not in fragment
    summary = analysis.summary["assets"][exploited["vault"]]
    assert f'<dd data-testid="losers">{summary["losers"]}</dd>' in fragment
    assert f"{int(summary['total_losses']):,} base units" in fragment
    assert "Build a recovery plan" in fragment
    page = _text(client.get(reverse("committee-incident", args=[incident.pk])))
    assert analysis.reference_block_hash[:10] in page
    assert f"{summary['losers']} losers, " in page


@pytest.mark.chain
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"rollback_block": "999999999"}, "rollback_block", "after reference_block"),
        ({"reference_block": "999999999", "rollback_block": "1"}, "reference_block", "past the chain head"),
        ({"assets": ADDRESS.lower()}, "assets", "not checksummed"),
        ({"positions": "nonsense"}, "positions", "reader name"),
        ({"rollback_block": "x"}, "rollback_block", "whole number"),
    ],
)
def test_a_bad_analysis_request_comes_back_on_its_field_and_nothing_is_written(
    anvil, exploited, chain_settings, settings, change, field, message
):
    settings.CONFIRMATION_DEPTH = 0
    incident = IncidentFactory(affected_tokens=[exploited["vault"]])
    data = {"rollback_block": exploited["rollback_block"], "reference_block": exploited["reference_block"]}
    response = _committee().post(reverse("committee-analysis-new", args=[incident.pk]), {**data, **change})
    assert response.status_code == 400
    error = re.search(rf'id="id_{field}_error" role="alert">([^<]*)<', _text(response))
    assert error is not None and message in error.group(1), _text(response)
    assert ImpactAnalysis.objects.count() == 0


@pytest.mark.chain
def test_cancelling_a_pending_analysis_from_its_page(anvil, exploited, chain_settings, settings):
    settings.CONFIRMATION_DEPTH = 0
    incident = IncidentFactory(affected_tokens=[exploited["vault"]])
    from recovery import impact

    analysis = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=anvil.url,
        rollback_block=exploited["rollback_block"],
        reference_block=exploited["reference_block"],
    )
    response = _committee().post(reverse("committee-analysis-cancel", args=[analysis.pk]))
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.CANCELLED


# ---------------------------------------------------------------- the plan editor


@pytest.fixture
def analysis(anvil, exploited, chain_settings):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])


def _editor_data(analysis, **extra) -> dict:
    data = {
        "mode": "restitute",
        "policy": "full",
        "dust_threshold": "0",
        "gas_ceiling": "10000000",
        "change_count": "2",
        "change_0_value": "0",
        "change_1_value": "0",
    }
    return {**data, **extra}


def _plan_rows(plan: RecoveryPlan) -> dict:
    """What two builds of one input share (ids, versions and the on-chain plan ids aside)."""
    assets = {}
    for plan_asset in plan.assets.order_by("asset"):
        assets[plan_asset.asset] = (
            plan_asset.budget,
            plan_asset.total_claims,
            plan_asset.total_allocated,
            plan_asset.allocation_root,
            sorted((a.account, int(a.amount)) for a in plan_asset.allocations.all()),
        )
    return {
        "mode": plan.mode,
        "policy": plan.policy,
        "exclusions": plan.exclusions,
        "dust": plan.dust_threshold,
        "changes": plan.parameter_changes,
        "delivery": plan.delivery,
        "executor": plan.recovery_executor,
        "auto": plan.auto_execute,
        "assets": assets,
    }


@pytest.mark.chain
def test_the_editor_builds_the_plan_the_api_builds_from_the_same_input(analysis, exploited):
    vault = exploited["vault"]
    losses = int(analysis.summary["assets"][vault]["total_losses"])
    budget = str(losses // 2)
    client = _committee()
    editor = _text(client.get(reverse("committee-plan-new", args=[analysis.pk])))
    assert f"Budget for {vault} (base units)" in editor
    assert "a protocol contract named in the incident" in editor  # the default exclusion, with why
    assert "DemoPriceFeed.setAnswer(int256)" in editor
    response = client.post(
        reverse("committee-plan-new", args=[analysis.pk]),
        _editor_data(
            analysis,
            policy="pro_rata",
            budget_0=budget,
            change_0_target=exploited["asset"],
            change_0_function="DemoPriceFeed:setAnswer(int256)",
            change_0_args='["42"]',
            change_1_target=vault,
            change_1_signature="setFee(uint256)",
            change_1_args='["1000"]',
        ),
    )
    assert response.status_code == 302, _text(response)
    plan = RecoveryPlan.objects.get()
    assert response["Location"] == reverse("committee-plan", args=[plan.pk])

    api = APIClient()
    api.force_authenticate(UserFactory(committee=True))
    answer = api.post(
        f"/api/analyses/{analysis.pk}/plans/",
        {
            "mode": "restitute",
            "policy": "pro_rata",
            "budgets": {vault: budget},
            "parameter_changes": [
                {"target": exploited["asset"], "artifact": "DemoPriceFeed", "function": "setAnswer", "args": ["42"]},
                {"target": vault, "signature": "setFee(uint256)", "args": ["1000"]},
            ],
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    by_api = RecoveryPlan.objects.get(pk=answer.json()["id"])
    assert _plan_rows(plan) == _plan_rows(by_api)
    assert plan.assets.get().total_allocated <= int(budget)

    page = _text(client.get(response["Location"]))
    assert "Recovery plan version 1" in page
    assert f"{int(budget):,} base units" in page
    assert plan.assets.get().allocation_root in page
    assert "setAnswer(int256)" in page and "setFee(uint256)" in page and "1000" in page
    assert "a protocol contract named in the incident" in page


@pytest.mark.chain
def test_the_preview_button_shows_the_decoded_calls_and_saves_nothing(analysis, exploited):
    response = _committee().post(
        reverse("committee-plan-new", args=[analysis.pk]),
        _editor_data(
            analysis,
            preview="1",
            change_0_target=exploited["vault"],
            change_0_signature="setFee(uint256)",
            change_0_args='["1000"]',
        ),
    )
    assert response.status_code == 200
    page = _text(response)
    assert 'data-testid="previews"' in page
    assert "setFee(uint256)" in page and "0x69fe0e2d" in page  # the selector of setFee(uint256)
    assert RecoveryPlan.objects.count() == 0


@pytest.mark.chain
@pytest.mark.parametrize(
    ("extra", "field", "message", "status"),
    [
        ({"policy": "pro_rata"}, "budget_0", "needs a budget", 400),
        ({"policy": "pro_rata", "budget_0": "1.5"}, "budget_0", "not a non-negative whole number", 400),
        ({"policy": "pro_rata", "budget_0": str(2**256)}, "budget_0", "overflows uint256", 400),
        ({"exclusions": ADDRESS.lower()}, "exclusions", "not checksummed", 400),
        ({"dust_threshold": "abc"}, "dust_threshold", "dust_threshold", 400),
        ({"delivery": "pull"}, "claim_deadline", "a pull plan needs its claim deadline", 400),
        ({"mode": "restore", "delivery": "push_fallback"}, "delivery", "only restitute", 400),
        ({"claim_days": "5"}, "claim_days", "pull", 400),
        ({"recovery_executor": "0x12"}, "recovery_executor", "0x12", 400),
        ({"include_contracts": ADDRESS}, "include_contracts", "not one of the available choices", 400),
        (
            {"change_0_target": ADDRESS, "change_0_signature": "nonsense", "change_0_args": "[]"},
            "change_0_args",
            "",
            400,
        ),
        (
            {"change_0_target": ADDRESS, "change_0_signature": "setFee(uint8)", "change_0_args": '["300"]'},
            "change_0_args",
            "300",
            400,
        ),
        ({"change_0_target": ADDRESS, "change_0_args": "[1,"}, "change_0_args", "not JSON", 400),
        ({"change_0_function": "Nope:f()", "change_0_target": ADDRESS}, "change_0_function", "not one of", 400),
        ({"claims_0": "who,what\n"}, "claims_0", "account,amount", 400),
    ],
)
def test_a_bad_editor_field_comes_back_with_its_message_and_nothing_is_written(
    analysis, exploited, extra, field, message, status
):
    response = _committee().post(reverse("committee-plan-new", args=[analysis.pk]), _editor_data(analysis, **extra))
    assert response.status_code == status, _text(response)
    page = _text(response)
    error = re.search(rf'id="id_{field}_error" role="alert">([^<]*)<', page)
    assert error is not None and message in error.group(1), page
    assert RecoveryPlan.objects.count() == 0


@pytest.mark.django_db
def test_the_editor_refuses_to_build_from_an_unfinished_analysis(rows):
    _incident, analysis, _plan = rows
    before = RecoveryPlan.objects.count()
    response = _committee().post(
        reverse("committee-plan-new", args=[analysis.pk]),
        {"mode": "restitute", "policy": "full", "gas_ceiling": "10000000"},
    )
    assert response.status_code == 409
    assert "plans are built from completed analyses" in _text(response)
    assert RecoveryPlan.objects.count() == before


@pytest.mark.django_db
def test_a_node_failure_is_told_without_the_node_url_or_its_key(settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9/v3/secret-api-key-123"  # nothing listens on port 9
    incident = IncidentFactory(affected_tokens=[ADDRESS])
    client = _committee()
    response = client.post(
        reverse("committee-analysis-new", args=[incident.pk]), {"rollback_block": "1", "reference_block": "2"}
    )
    assert response.status_code == 503
    page = _text(response)
    assert "Nothing was saved." in page and "failed" in page
    assert "secret-api-key-123" not in page
    assert ImpactAnalysis.objects.count() == 0
    for url in [reverse("committee-incident", args=[incident.pk]), reverse("committee-incident-new")]:
        assert "secret-api-key-123" not in _text(client.get(url))


@pytest.mark.chain
def test_the_analysis_page_values_the_losses_at_the_feed_price(anvil, demo, exploited, chain_settings, settings):
    from recovery import impact

    settings.CONFIRMATION_DEPTH = 0
    incident = IncidentFactory(affected_tokens=[exploited["vault"]], exploiter_addresses=[exploited["attacker"]])
    requested = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=anvil.url,
        rollback_block=exploited["rollback_block"],
        reference_block=exploited["reference_block"],
        from_block=exploited["from_block"],
        price_feed=demo.address("price_feed"),
    )
    analysis = impact.compute_impact(analysis_id=requested.pk, rpc_url=anvil.url)
    entry = analysis.summary["assets"][exploited["vault"]]
    assert entry["total_losses_value"] is not None
    page = _text(_committee().get(reverse("committee-analysis", args=[analysis.pk])))
    shown = re.search(r'data-testid="total-losses-value">([^<]*)<', page).group(1)
    whole = int(entry["total_losses_value"]) // 10 ** entry["value_decimals"]
    assert shown.startswith(f"{whole:,}") and shown.endswith(entry["quote"])
    assert "hx-trigger" not in page
