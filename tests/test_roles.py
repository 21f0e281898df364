"""Roles: reads are open, each write endpoint needs its role, and `manage.py role` manages members.

Each write endpoint is tried by each kind of caller: anonymous (401 with a challenge), a
signed-in user without a role and an executor (403 naming the missing role), a committee
member and a superuser (the write happens). A refused write leaves the database unchanged.
"""

import base64
import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from recovery import impact
from recovery.models import AnalysisStatus, ImpactAnalysis, Incident, RecoveryPlan
from tests.factories import PASSWORD, IncidentFactory, UserFactory

CALLERS = ["anonymous", "plain", "executor", "committee", "superuser"]
ALLOWED = {"committee", "superuser"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Django's default PBKDF2 costs about a second a user; these tests check roles, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _client(caller: str) -> APIClient:
    client = APIClient()
    if caller != "anonymous":
        traits = {"plain": {}, "executor": {"executor": True}, "committee": {"committee": True}}
        user = UserFactory(**traits.get(caller, {"superuser": True}))
        client.force_authenticate(user)
    return client


def _assert_refused(reply, caller: str) -> None:
    if caller == "anonymous":
        assert reply.status_code == 401, reply.content
        assert reply["WWW-Authenticate"].startswith("Basic")
        assert reply.json()["error"]["code"] == "not_authenticated"
    else:
        assert reply.status_code == 403, reply.content
        error = reply.json()["error"]
        assert error["code"] == "role_required"
        assert error["detail"]["role"] == "committee"
        assert "committee role" in error["message"]


def _exploit_incident(exploited) -> Incident:
    return IncidentFactory(
        affected_contracts=[exploited["vault"]],
        affected_tokens=[exploited["vault"], exploited["asset"]],
        exploiter_addresses=[exploited["attacker"], exploited["drainer"]],
    )


def _analysis_request(exploited) -> dict[str, object]:
    return {
        "rollback_block": exploited["rollback_block"],
        "reference_block": exploited["reference_block"],
        "from_block": exploited["from_block"],
        "assets": [exploited["vault"]],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_committee_opens_incidents(caller):
    body = {"title": "Vault drained", "kind": "protocol_exploit", "chain_id": 31337}
    reply = _client(caller).post(reverse("incidents"), body, format="json")
    if caller in ALLOWED:
        assert reply.status_code == 201, reply.content
        assert Incident.objects.get().opened_by.is_authenticated
    else:
        _assert_refused(reply, caller)
        assert not Incident.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_committee_requests_impact_analyses(
    caller, chain_settings, exploited, django_capture_on_commit_callbacks
):
    incident = _exploit_incident(exploited)
    client = _client(caller)
    with django_capture_on_commit_callbacks() as enqueued:
        reply = client.post(
            reverse("incident-analyses", args=[incident.pk]), _analysis_request(exploited), format="json"
        )
    if caller in ALLOWED:
        assert reply.status_code == 202, reply.content
        analysis = ImpactAnalysis.objects.get()
        assert analysis.incident == incident
        # Enqueued once the request's transaction commits (delay_on_commit), never before.
        [task] = enqueued
        assert (task.func.__self__.name, task.args) == ("recovery.tasks.compute_impact", (analysis.pk,))
    else:
        _assert_refused(reply, caller)
        assert not ImpactAnalysis.objects.exists()
        assert not enqueued


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_committee_cancels_impact_analyses(caller, anvil, chain_settings, exploited):
    incident = _exploit_incident(exploited)
    analysis = impact.request_impact(incident_id=incident.pk, rpc_url=anvil.url, **_analysis_request(exploited))
    reply = _client(caller).post(reverse("analysis-cancel", args=[analysis.pk]))
    analysis.refresh_from_db()
    if caller in ALLOWED:
        assert reply.status_code == 200, reply.content
        assert analysis.status == AnalysisStatus.CANCELLED or analysis.cancel_requested
    else:
        _assert_refused(reply, caller)
        assert analysis.status == AnalysisStatus.PENDING
        assert not analysis.cancel_requested


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_committee_builds_plans(caller, anvil, chain_settings, exploited):
    incident = _exploit_incident(exploited)
    analysis = impact.request_impact(incident_id=incident.pk, rpc_url=anvil.url, **_analysis_request(exploited))
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    body = {"mode": "restitute", "policy": "full"}
    reply = _client(caller).post(reverse("analysis-plans", args=[analysis.pk]), body, format="json")
    if caller in ALLOWED:
        assert reply.status_code == 201, reply.content
        assert RecoveryPlan.objects.get().analysis == analysis
    else:
        _assert_refused(reply, caller)
        assert not RecoveryPlan.objects.exists()


# Writes open to anyone, each for a reason: decoding calldata changes nothing, and a gasless
# ballot's EIP-712 signature is its own authorization (holders have no account).
OPEN_WRITES = {
    "/api/parameter-changes/decode/",
    "/api/publications/{publication_id}/ballots/",
    "/api/snapshot/proposals/{snapshot_proposal_id}/votes/",
}


@pytest.mark.django_db
def test_every_write_operation_in_the_schema_refuses_anonymous_callers_and_users_without_a_role():
    # Read from the schema, so an endpoint added later is covered without touching this test.
    schema = APIClient().get(reverse("api-schema"), {"format": "json"}).json()
    writes = [
        (path, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"post", "put", "patch", "delete"} and path not in OPEN_WRITES
    ]
    assert len(writes) >= 4
    plain = _client("plain")
    for path, method in writes:
        url = re.sub(r"\{\w+\}", "1", path)
        anonymous_reply = getattr(APIClient(), method)(url, {}, format="json")
        assert anonymous_reply.status_code == 401, (method, path)
        assert anonymous_reply.has_header("WWW-Authenticate")
        assert getattr(plain, method)(url, {}, format="json").status_code == 403, (method, path)
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_reads_and_the_decoder_stay_open_to_anonymous_callers():
    incident = IncidentFactory()
    client = APIClient()
    assert client.get(reverse("incidents")).status_code == 200
    assert client.get(reverse("incident", args=[incident.pk])).json()["id"] == incident.pk
    decoded = client.post(
        reverse("parameter-decode"), {"calldata": "0x3ccfd60b", "signature": "withdraw()"}, format="json"
    )
    assert decoded.status_code == 200, decoded.content


@pytest.mark.django_db
def test_an_api_client_signs_in_with_basic_credentials():
    user = UserFactory(committee=True)
    body = {"title": "Oracle stuck", "kind": "oracle_failure", "chain_id": 1}

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"{user.username}:{password}".encode()).decode()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("wrong"))
    wrong = client.post(reverse("incidents"), body, format="json")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "authentication_failed"
    client.credentials(HTTP_AUTHORIZATION=basic(PASSWORD))
    assert client.post(reverse("incidents"), body, format="json").status_code == 201
    assert Incident.objects.get().opened_by == user


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "password"), [("ad\x00a", "pw"), ("ada", "p\x00w")])
def test_basic_credentials_with_a_nul_character_are_refused_not_a_server_error(username, password):
    # PostgreSQL cannot even look up such a user name; found by the schema fuzzing.
    UserFactory(username="ada", committee=True)
    client = APIClient()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    reply = client.post(reverse("incidents"), {"title": "t", "kind": "other", "chain_id": 1}, format="json")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "authentication_failed"
    assert not Incident.objects.exists()


def test_the_schema_tells_api_clients_to_sign_in_with_basic_credentials_or_a_session():
    schemes = APIClient().get(reverse("api-schema"), {"format": "json"}).json()["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["cookieAuth"]["in"] == "cookie"


@pytest.mark.django_db
def test_a_signed_in_session_needs_the_csrf_token_to_write():
    user = UserFactory(committee=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    body = {"title": "Venue stalled", "kind": "other", "chain_id": 1}
    refused = client.post(reverse("incidents"), body, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert not Incident.objects.exists()


# --- manage.py role ---


def _role(*args: str) -> str:
    out = StringIO()
    call_command("role", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_role_add_gives_the_rights_and_role_remove_takes_them_back():
    user = UserFactory(username="ada")
    assert "ada now has the committee role" in _role("add", "ada", "committee")
    user = type(user).objects.get(pk=user.pk)  # has_perm caches per instance
    assert user.has_perm("recovery.open_incident")
    assert not user.has_perm("recovery.run_execution")
    assert _role("list", "ada").strip() == "ada: committee"
    assert "ada no longer has the committee role" in _role("remove", "ada", "committee")
    user = type(user).objects.get(pk=user.pk)
    assert not user.has_perm("recovery.open_incident")
    assert _role("list", "ada").strip() == "ada: no role"


@pytest.mark.django_db
def test_role_list_names_each_roles_members():
    UserFactory(username="ada", committee=True)
    UserFactory(username="bob", executor=True)
    UserFactory(username="cyd", committee=True, executor=True)
    assert _role("list").splitlines() == ["committee: ada, cyd", "executor: bob, cyd"]


@pytest.mark.django_db
def test_role_add_create_makes_an_account_without_a_usable_password():
    out = _role("add", "newcomer", "executor", "--create")
    assert "created user newcomer" in out
    assert "changepassword newcomer" in out
    user = Group.objects.get(name="executor").user_set.get()
    assert user.username == "newcomer"
    assert not user.has_usable_password()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "nobody", "committee"), "there is no user 'nobody'"),
        (("remove", "nobody", "committee"), "there is no user 'nobody'"),
        (("list", "nobody"), "there is no user 'nobody'"),
        (("add", "ada", "admin"), "there is no role 'admin': roles are committee, executor"),
        (("remove", "ada", "voter"), "there is no role 'voter'"),
    ],
)
def test_role_refuses_an_unknown_user_or_role_with_a_clear_message(args, message):
    UserFactory(username="ada")
    with pytest.raises(CommandError, match=message):
        _role(*args)
    assert not Group.objects.get(name="committee").user_set.exists()
