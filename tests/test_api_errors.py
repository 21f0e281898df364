"""Errors under /api/ are JSON (`{"error": {code, message, detail}}`), pages elsewhere stay HTML;
integer inputs past what a column holds are a 400, not a 500; the docs page works offline.

This module is also the URLconf of the tests that need a view failing on purpose.
"""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import path, reverse
from rest_framework.test import APIClient

from config.urls import urlpatterns as project_urlpatterns
from recovery.apis import MAX_BLOCK, MAX_CHAIN_ID
from recovery.models import Incident
from tests.factories import UserFactory

SECRET = "https://node.example/v3/0123456789abcdef-secret-key"


def _failing_view(request):
    raise RuntimeError(f"the node at {SECRET} said no")


urlpatterns = [
    # Before the project's: its last pattern answers every other /api/ path with the JSON 404.
    path("api/test-failure/", _failing_view),
    path("page-failure/", _failing_view),
    *project_urlpatterns,
]
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"


def _committee_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    return client


def _assert_error_json(reply, status: int, code: str) -> dict:
    assert reply.status_code == status, reply.content
    assert reply["Content-Type"].startswith("application/json")
    error = reply.json()["error"]
    assert set(error) == {"code", "message", "detail"}
    assert error["code"] == code
    return error


def test_an_unknown_api_path_answers_json_404():
    error = _assert_error_json(Client().get("/api/no-such-thing/"), 404, "not_found")
    assert "/api/no-such-thing/" in error["message"]
    _assert_error_json(Client().post("/api/incidents/1/nothing/", {}), 404, "not_found")


def test_an_unknown_api_path_answers_json_with_debug_on_too(settings):
    settings.DEBUG = True  # make run's embedded mode, where Django's own 404 is a page
    _assert_error_json(Client().get("/api/no-such-thing/"), 404, "not_found")


def test_an_unknown_page_outside_the_api_stays_html():
    reply = Client().get("/no-such-page/")
    assert reply.status_code == 404
    assert reply["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.test_api_errors")
def test_a_server_error_under_the_api_answers_json_without_the_failure_details():
    reply = Client(raise_request_exception=False).get("/api/test-failure/")
    error = _assert_error_json(reply, 500, "server_error")
    assert error["detail"] == {}
    assert "secret-key" not in reply.content.decode()
    assert "node.example" not in reply.content.decode()


@pytest.mark.urls("tests.test_api_errors")
def test_a_server_error_outside_the_api_stays_an_html_page():
    reply = Client(raise_request_exception=False).get("/page-failure/")
    assert reply.status_code == 500
    assert reply["Content-Type"].startswith("text/html")
    assert "secret-key" not in reply.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("chain_id", [99999999999999999999999, 2**63, MAX_CHAIN_ID + 1, 0, -5])
def test_a_chain_id_outside_what_a_chain_can_have_is_refused_with_400(chain_id):
    body = {"title": "Vault drained", "kind": "protocol_exploit", "chain_id": chain_id}
    error = _assert_error_json(
        _committee_client().post(reverse("incidents"), body, format="json"), 400, "invalid_input"
    )
    assert error["detail"]["field"] == "chain_id"
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_the_largest_chain_id_eip_2294_allows_is_stored():
    body = {"title": "Vault drained", "kind": "protocol_exploit", "chain_id": MAX_CHAIN_ID, "detected_block": MAX_BLOCK}
    reply = _committee_client().post(reverse("incidents"), body, format="json")
    assert reply.status_code == 201, reply.content
    stored = Incident.objects.get()
    assert (stored.chain_id, stored.detected_block) == (MAX_CHAIN_ID, MAX_BLOCK)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "field", "value"),
    [
        ("incidents", "detected_block", 2**63),
        ("incident-analyses", "rollback_block", 2**64),
        ("incident-analyses", "reference_block", 10**30),
        ("incident-analyses", "from_block", 2**63),
        ("analysis-plans", "gas_ceiling", 2**64),
    ],
)
def test_every_integer_input_past_its_column_is_refused_with_400(endpoint, field, value):
    bodies = {
        "incidents": {"title": "t", "kind": "other", "chain_id": 1},
        "incident-analyses": {"rollback_block": 1, "reference_block": 2, "assets": []},
        "analysis-plans": {"mode": "restitute", "policy": "full"},
    }
    url = reverse("incidents") if endpoint == "incidents" else reverse(endpoint, args=[1])
    reply = _committee_client().post(url, {**bodies[endpoint], field: value}, format="json")
    assert _assert_error_json(reply, 400, "invalid_input")["detail"]["field"] == field


def test_the_docs_page_loads_only_assets_served_by_the_project():
    page = Client().get(reverse("api-docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert all(asset.startswith("/static/") for asset in assets), assets
    assert "cdn" not in html.lower()
    assert "unpkg" not in html.lower()
    for asset in assets:
        # What collectstatic copies (production) and runserver serves (DEBUG): the finders' files.
        found = finders.find(asset.removeprefix("/static/"))
        assert found, f"{asset} is not found by the staticfiles finders"
    names = " ".join(assets)
    assert "swagger-ui-bundle.js" in names
    assert "swagger-ui.css" in names


@pytest.mark.django_db
def test_a_session_cookie_with_a_nul_character_is_no_session_not_a_server_error():
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert client.get(reverse("incidents")).status_code == 200
    _assert_error_json(client.post(reverse("incidents"), {}, content_type="application/json"), 401, "not_authenticated")
    assert client.get("/").status_code == 200  # the pages too
