"""The home page and the demo seed `make run` opens on: one demo incident per dev chain, ready to walk through.

The seed runs on the session anvil (the ``demo`` fixture reverts the chain after each test), with
the deployment recorded as ``manage.py devchain`` records it.
"""

import html
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template import loader
from django.test import Client
from django.urls import path

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind
from config import urls as config_urls
from governance.models.venues import GovernorVenue
from proposals.models import CommitteeMember
from recovery.demo_seed import (
    DEMO_PASSWORD,
    DEMO_TITLE,
    STALE_PREFIX,
    committee_address,
    seed_key,
    seeded_incident,
)
from recovery.models import ImpactAnalysis, Incident, IncidentStatus, PlanStatus, RecoveryPlan
from recovery.selectors import get_current_deployment
from recovery.services import record_deployment


def _seed() -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out)
    return out.getvalue()


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.chain
@pytest.mark.django_db
def test_seeding_twice_makes_one_incident_one_analysis_and_one_draft_plan(demo, chain_settings, w3):
    first = _seed()
    head = w3.eth.block_number
    second = _seed()

    deployment = get_current_deployment(rpc_url=chain_settings.CHAIN_RPC_URL)
    incident = Incident.objects.get()
    assert incident.opened_via == seed_key(deployment) and incident.title == DEMO_TITLE
    analysis = ImpactAnalysis.objects.get()
    assert analysis.incident == incident and analysis.status == "completed"
    assert analysis.summary["assets"][demo.address("vault")]["losers"] == 18  # three holders in four of 24
    plan = RecoveryPlan.objects.get()
    assert plan.status == PlanStatus.DRAFT and plan.policy == "pro_rata" and not hasattr(plan, "proposal_document")
    # The second run changed nothing on chain: no second exploit, no second funding.
    assert w3.eth.block_number == head
    assert "exploit: 18 holders drained" in first and "exploit" not in second.split("\n", 2)[1]
    assert f"incident {incident.pk} already seeded on this chain" in second
    for line in first.splitlines():
        assert line.startswith("demo seed: ")
    # The rehearsal can pass: the RecoveryExecutor holds what the plan pays; the dev governor is a venue.
    assert GovernorVenue.objects.filter(governor=demo.address("governor")).count() == 1
    asset = plan.assets.get(asset=demo.address("vault"))
    held = bind(w3, "DemoVault", demo.address("vault")).functions.balanceOf(demo.address("recovery_executor")).call()
    assert held >= int(asset.total_allocated) > 0


@pytest.mark.chain
@pytest.mark.django_db
def test_the_seed_creates_the_demo_staff_accounts_in_their_roles_linked_to_dev_committee_keys(demo, chain_settings):
    output = _seed()
    _seed()

    users = get_user_model()
    committee, executor = users.objects.get(username="committee"), users.objects.get(username="executor")
    assert committee.check_password(DEMO_PASSWORD) and executor.check_password(DEMO_PASSWORD)
    assert list(committee.groups.values_list("name", flat=True)) == ["committee"]
    assert list(executor.groups.values_list("name", flat=True)) == ["executor"]
    member = CommitteeMember.objects.get(user=committee, active=True)
    assert member.address == committee_address(0) == demo.committee
    assert CommitteeMember.objects.get(user__username="committee2").address == committee_address(1)
    assert f"password {DEMO_PASSWORD!r}" in output
    for key in devkeys.COMMITTEE_KEYS:
        assert key not in output and key[2:] not in output


@pytest.mark.chain
@pytest.mark.django_db
def test_an_incident_seeded_on_an_earlier_dev_chain_is_marked_stale_and_a_new_one_is_seeded(demo, chain_settings):
    earlier = get_current_deployment(rpc_url=chain_settings.CHAIN_RPC_URL)
    old = Incident.objects.create(
        title=DEMO_TITLE, kind="protocol_exploit", chain_id=31337, opened_via=seed_key(earlier)
    )
    today = record_deployment(deployment=demo)  # as `devchain` records each fresh start

    output = _seed()

    old.refresh_from_db()
    assert old.status == IncidentStatus.CLOSED and old.title == STALE_PREFIX + DEMO_TITLE
    assert "earlier dev chain" in old.description
    assert "1 demo incident(s) of earlier dev chains marked stale" in output
    assert seeded_incident(today) is not None and seeded_incident(today).pk != old.pk
    page = _text(Client().get("/"))
    assert f'href="/incidents/{seeded_incident(today).pk}/"' in page
    assert f'href="/incidents/{old.pk}/"' not in page


@pytest.mark.django_db
def test_the_seed_refuses_off_the_embedded_mode(settings):
    settings.EMBEDDED = False
    settings.CHAIN_RPC_URL = "https://mainnet.example.org/v3/SECRETKEY"

    with pytest.raises(CommandError) as refused:
        _seed()

    message = str(refused.value)
    assert "embedded dev chain only" in message and "nothing done" in message
    assert "SECRETKEY" not in message
    assert not get_user_model().objects.filter(username="committee").exists()


@pytest.mark.chain
@pytest.mark.django_db
def test_the_seed_refuses_a_chain_without_a_recorded_deployment(chain_settings, w3):
    with pytest.raises(CommandError, match="no demo deployment is recorded"):
        _seed()
    assert not Incident.objects.exists()


@pytest.mark.chain
@pytest.mark.django_db
def test_the_seed_refuses_a_node_that_is_not_the_dev_chain(settings):
    with Anvil(port=0, chain_id=1) as other:
        settings.CHAIN_RPC_URL = other.url
        with pytest.raises(CommandError, match=r"dev chain only .* on chain 1"):
            _seed()
    assert not Incident.objects.exists()


@pytest.mark.chain
@pytest.mark.django_db
def test_the_home_page_shows_the_demo_incident_the_guides_and_the_dev_password(demo, chain_settings):
    _seed()
    incident = Incident.objects.get()
    plan = RecoveryPlan.objects.get()

    response = Client().get("/")

    assert response.status_code == 200
    text = _text(response)
    assert DEMO_TITLE in text
    assert f'href="/incidents/{incident.pk}/"' in text and f'href="/plans/{plan.pk}/"' in text
    assert 'href="/proposals/"' in text and 'href="/executions/"' in text
    assert "18 lost vault shares" in text and "not frozen yet" in text
    for role in ("committee", "holder", "executor"):
        assert f'data-testid="guide-{role}"' in text
    assert "Sign in with Ethereum" in text and "chain id <code>31337</code>" in text
    assert f'data-testid="demo-password">{DEMO_PASSWORD}<' in response.content.decode()
    # The chain status the home page always showed.
    assert 'data-testid="chain-status">live' in text and demo.address("vault") in text
    for key in (*devkeys.COMMITTEE_KEYS, devkeys.DEPLOYER_KEY, devkeys.EXECUTOR_KEY, devkeys.ATTACKER_KEY):
        assert key[2:] not in text


@pytest.mark.chain
@pytest.mark.django_db
def test_the_home_page_never_shows_the_password_or_the_demo_accounts_with_a_real_node(demo, chain_settings):
    _seed()
    chain_settings.EMBEDDED = False

    text = _text(Client().get("/"))

    assert DEMO_PASSWORD not in text
    assert 'data-testid="dev-signin"' not in text and 'data-testid="demo-incident"' not in text
    assert 'data-testid="guide-committee"' in text and "manage.py role add NAME committee" in text


@pytest.mark.django_db
def test_the_home_page_says_when_no_demo_incident_is_seeded(settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"

    text = _text(Client().get("/"))

    assert 'data-testid="demo-missing"' in text and "manage.py demo_seed" in text
    assert "unreachable" in text and "No deployment is recorded" in text


# --- The site's error pages (DEBUG off): what happened and where to go; /api/ keeps its JSON. ---


def _boom(request):
    raise RuntimeError("a bug with a secret in it: http://node.example.org/v3/SECRETKEY")


def _denied(request):
    raise PermissionDenied("internal reason")


def _bad(request):
    raise SuspiciousOperation("internal reason")


class ErrorURLs:
    """The project's URLs plus three views that fail; the project's error handlers."""

    urlpatterns = [
        path("test-errors/500/", _boom),
        path("test-errors/403/", _denied),
        path("test-errors/400/", _bad),
        path("api/test-errors/500/", _boom),
        *config_urls.urlpatterns,
    ]
    handler404 = config_urls.handler404
    handler500 = config_urls.handler500


@pytest.fixture
def error_site(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = ErrorURLs
    return Client(raise_request_exception=False)


@pytest.mark.django_db
def test_an_unknown_page_is_the_sites_404_page_naming_the_path_and_where_to_go(error_site):
    response = error_site.get("/no-such-page/")

    assert response.status_code == 404
    text = _text(response)
    assert "Page not found" in text and "/no-such-page/" in text
    assert 'href="/"' in text and 'href="/proposals/"' in text and "Staff sign-in" in text  # the site's layout


@pytest.mark.django_db
def test_an_unknown_api_path_stays_a_json_404(error_site):
    response = error_site.get("/api/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_server_error_is_the_sites_500_page_without_any_detail(error_site):
    response = error_site.get("/test-errors/500/")

    assert response.status_code == 500
    text = _text(response)
    assert "Something went wrong on our side" in text and 'href="/proposals/"' in text
    assert "SECRETKEY" not in text and "RuntimeError" not in text
    assert error_site.get("/api/test-errors/500/").json()["error"]["code"] == "server_error"


def test_the_500_page_renders_with_no_request_and_no_database():
    # No django_db mark here: any query would fail the test.
    text = loader.get_template("500.html").render()

    assert "Something went wrong on our side" in text and "/static/web/site.css" in text


@pytest.mark.django_db
def test_a_refused_page_is_the_sites_403_page_and_a_bad_request_the_400_page(error_site):
    denied = error_site.get("/test-errors/403/")
    bad = error_site.get("/test-errors/400/")

    assert denied.status_code == 403
    assert "Not allowed" in _text(denied) and "Staff sign-in" in _text(denied)
    assert "internal reason" not in _text(denied)
    assert bad.status_code == 400
    assert "Bad request" in _text(bad) and "nothing was done" in _text(bad)
    assert "internal reason" not in _text(bad)
