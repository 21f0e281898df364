"""Adding a governor venue: the service, the API with its roles, and `manage.py venue`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from chain.artifacts import bind
from governance import services
from governance.exceptions import ApproverRoleMissing, NotAGovernorVenue
from governance.models import GovernorVenue
from governance.venues import Venue
from recovery.exceptions import ChainMismatch, ChainUnavailable
from tests.factories import UserFactory

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _add(demo, rpc_url, **overrides):
    arguments = {
        "chain_id": demo.chain_id,
        "governor": demo.address("governor"),
        "recovery_executor": demo.address("recovery_executor"),
        "rpc_url": rpc_url,
    }
    return services.add_governor_venue(**{**arguments, **overrides})


def _revoke_approver(w3, demo, timelock) -> str:
    recovery_executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    role = recovery_executor.functions.APPROVER_ROLE().call()
    tx = recovery_executor.functions.revokeRole(role, timelock).transact({"from": timelock})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return "0x" + role.hex()


def test_adding_the_dev_governor_stores_what_it_said_at_a_block_with_its_hash(w3, demo, anvil):
    venue = _add(demo, anvil.url)
    venue.refresh_from_db()
    assert venue.kind == "governor" and isinstance(venue, Venue)
    assert (venue.chain_id, venue.governor, venue.recovery_executor) == (
        demo.chain_id,
        demo.address("governor"),
        demo.address("recovery_executor"),
    )
    assert venue.name == "Lifeboat Demo Governor"
    assert venue.timelock == demo.address("timelock") == venue.executor
    assert venue.token == demo.address("token")
    assert venue.clock_mode == "mode=blocknumber&from=default"
    assert venue.quorum > 0 and isinstance(venue.quorum, int)
    assert venue.sequential_ids is False
    assert venue.probed_block_hash == w3.eth.get_block(venue.probed_block)["hash"].to_0x_hex()


def test_adding_a_governor_again_probes_it_again_and_updates_the_one_venue(w3, demo, anvil):
    first = _add(demo, anvil.url)
    w3.provider.make_request("anvil_mine", [3])
    second = _add(demo, anvil.url)
    assert second.pk == first.pk and GovernorVenue.objects.count() == 1
    assert second.probed_block == first.probed_block + 3


def test_a_node_on_another_chain_is_refused_and_nothing_is_stored(demo, anvil):
    with pytest.raises(ChainMismatch, match=f"venue is on chain 1, but the node at {anvil.url} serves chain 31337"):
        _add(demo, anvil.url, chain_id=1)
    assert not GovernorVenue.objects.exists()


def test_the_token_is_refused_as_not_a_governor(demo, anvil):
    with pytest.raises(NotAGovernorVenue, match=f"{demo.address('token')} is not an OpenZeppelin Governor"):
        _add(demo, anvil.url, governor=demo.address("token"))
    assert not GovernorVenue.objects.exists()


def test_a_governor_whose_timelock_lacks_the_approver_role_is_refused_with_the_grant_to_send(w3, demo, anvil, timelock):
    role = _revoke_approver(w3, demo, timelock)
    with pytest.raises(ApproverRoleMissing) as refused:
        _add(demo, anvil.url)
    assert (
        f"grantRole(APPROVER_ROLE={role}, {timelock}) on {demo.address('recovery_executor')}" in refused.value.message
    )
    assert refused.value.detail["grant"] == f"grantRole({role}, {timelock})"
    assert not GovernorVenue.objects.exists()


def test_a_node_that_does_not_answer_is_a_503_whose_message_hides_the_url_path(demo):
    url = "http://127.0.0.1:1/v3/secret-api-key-123"
    with pytest.raises(ChainUnavailable) as refused:
        _add(demo, url)
    assert "secret-api-key-123" not in refused.value.message


# --- API ---


def _client(caller: str) -> APIClient:
    client = APIClient()
    if caller != "anonymous":
        client.force_authenticate(UserFactory(committee=caller == "committee", executor=caller == "executor"))
    return client


def _body(demo, **overrides):
    return {
        "chain_id": demo.chain_id,
        "governor": demo.address("governor"),
        "recovery_executor": demo.address("recovery_executor"),
        **overrides,
    }


def test_an_anonymous_caller_may_not_add_a_venue(demo, chain_settings):
    reply = _client("anonymous").post("/api/venues/governor/", _body(demo), format="json")
    assert reply.status_code == 401
    assert not GovernorVenue.objects.exists()


@pytest.mark.parametrize("caller", ["plain", "executor"])
def test_a_user_outside_the_committee_may_not_add_a_venue(demo, chain_settings, caller):
    reply = _client(caller).post("/api/venues/governor/", _body(demo), format="json")
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "role_required"
    assert "adding a venue needs the committee role" in reply.json()["error"]["message"]


def test_a_committee_member_adds_a_venue_and_anyone_reads_it(demo, chain_settings):
    reply = _client("committee").post("/api/venues/governor/", _body(demo), format="json")
    assert reply.status_code == 201, reply.content
    venue = reply.json()
    assert venue["governor"] == demo.address("governor")
    assert venue["timelock"] == venue["executor"] == demo.address("timelock")
    assert isinstance(venue["quorum"], str) and int(venue["quorum"]) > 0

    anyone = _client("anonymous")
    page = anyone.get("/api/venues/").json()
    assert page["count"] == 1 and page["results"][0]["id"] == venue["id"]
    assert anyone.get(f"/api/venues/{venue['id']}/").json() == venue
    missing = anyone.get(f"/api/venues/{venue['id'] + 1}/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "venue_not_found"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"chain_id": 0}, "invalid_input", "chain_id"),
        ({"chain_id": "x"}, "invalid_input", "chain_id"),
        ({"governor": "0x1234"}, "invalid_input", "governor"),
        ({"governor": "not an address"}, "invalid_input", "governor"),
        ({"recovery_executor": "0x" + "ab" * 20}, "invalid_input", "recovery_executor"),
        ({"governor": None}, "invalid_input", "governor"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(demo, chain_settings, overrides, code, field):
    reply = _client("committee").post("/api/venues/governor/", _body(demo, **overrides), format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"]["detail"]["field"] == field


def test_the_api_refuses_a_vault_as_not_a_governor_and_a_wrong_chain_as_a_mismatch(demo, chain_settings):
    client = _client("committee")
    vault = client.post("/api/venues/governor/", _body(demo, governor=demo.address("vault")), format="json")
    assert vault.status_code == 400 and vault.json()["error"]["code"] == "not_a_governor"
    assert vault.json()["error"]["detail"]["field"] == "governor"
    wrong = client.post("/api/venues/governor/", _body(demo, chain_id=5), format="json")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "chain_mismatch"


# --- command ---


def test_the_venue_command_adds_lists_and_probes_a_governor(w3, demo, chain_settings):
    out = StringIO()
    call_command(
        "venue",
        "add",
        "governor",
        "--chain-id",
        str(demo.chain_id),
        "--governor",
        demo.address("governor"),
        "--recovery-executor",
        demo.address("recovery_executor"),
        stdout=out,
        stderr=StringIO(),
    )
    venue = GovernorVenue.objects.get()
    assert out.getvalue().startswith(f"venue {venue.pk}: governor 'Lifeboat Demo Governor' {venue.governor}")
    assert "holds APPROVER_ROLE" in out.getvalue()

    listed = StringIO()
    call_command("venue", "list", stdout=listed)
    assert f"venue {venue.pk}: governor" in listed.getvalue()

    w3.provider.make_request("anvil_mine", [2])
    probed = StringIO()
    call_command("venue", "probe", str(venue.pk), "--json", stdout=probed, stderr=StringIO())
    assert f'"probed_block": {venue.probed_block + 2}' in probed.getvalue()


def test_the_venue_command_refuses_a_token_in_one_line(demo, chain_settings):
    arguments = ["--chain-id", str(demo.chain_id), "--recovery-executor", demo.address("recovery_executor")]
    with pytest.raises(CommandError, match=f"^{demo.address('token')} is not an OpenZeppelin Governor: "):
        call_command("venue", "add", "governor", "--governor", demo.address("token"), *arguments, stderr=StringIO())
    with pytest.raises(CommandError, match="is not checksummed"):
        call_command(
            "venue", "add", "governor", "--governor", demo.address("governor").lower(), *arguments, stderr=StringIO()
        )
    with pytest.raises(CommandError, match="there is no venue 999"):
        call_command("venue", "probe", "999", stderr=StringIO())
