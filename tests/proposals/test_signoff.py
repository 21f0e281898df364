"""Committee sign-off of a real frozen plan on the dev governor venue: the service, the API with its
roles, the commands, EIP-1271 contract wallets, re-verification and the publishable gate."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from eth_account import Account
from rest_framework.test import APIClient

from chain import devkeys
from chain.artifacts import factory
from chain.transact import send
from governance import services as venues
from governance.models import GovernorVenue
from proposals import signoff
from proposals.exceptions import (
    CommitteeMemberConflict,
    NotACommitteeMember,
    RehearsalRequired,
    SignatureMalformed,
    SignatureMismatch,
    SignOffExists,
    SignOffThresholdNotMet,
    VenueChainMismatch,
)
from proposals.models import CommitteeMember, Rehearsal, RehearsalStatus, SignOff, SignOffKind
from proposals.readiness import require_publishable, signoff_status
from proposals.rehearsals import passed_rehearsal
from proposals.signoffs import (
    deactivate_committee_member,
    get_signoff_subject,
    link_committee_member,
    submit_signoff,
    verify_signoffs,
)
from recovery.exceptions import ChainUnavailable, InvalidInput, RoleRequired
from recovery.models import Incident
from tests.factories import UserFactory
from tests.governance.governors import dev_venue, finished_rehearsal, frozen_document

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

KEYS = devkeys.COMMITTEE_KEYS
ADDRESSES = [Account.from_key(key).address for key in KEYS]
OUTSIDER_KEY = devkeys.ATTACKER_KEY


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def document(anvil, exploited, chain_settings):
    return frozen_document(anvil, exploited)


@pytest.fixture
def venue(demo, anvil):
    return dev_venue(demo, anvil)


def rehearse(document, venue, status=RehearsalStatus.PASSED) -> Rehearsal:
    """A finished rehearsal row (the rehearsal itself is tested in test_rehearsal*.py)."""
    return finished_rehearsal(document, venue, status)


@pytest.fixture
def rehearsed(document, venue):
    rehearse(document, venue)
    return document


@pytest.fixture
def members():
    """Three committee users, each linked to one of the dev committee keys' addresses."""
    linked = []
    for index, address in enumerate(ADDRESSES):
        user = UserFactory(username=f"member{index}", committee=True)
        member, created = link_committee_member(username=user.username, address=address)
        assert created
        linked.append(member)
    return linked


def sign(key: str, typed_data: dict) -> str:
    return Account.from_key(key).sign_message(signoff.signable_message(typed_data)).signature.to_0x_hex()


def submit(document, venue, member, signature, rpc_url):
    return submit_signoff(
        proposal_id=document.pk, venue_id=venue.pk, member=member, signature=signature, rpc_url=rpc_url
    )


def client_as(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("proposal", *args, stdout=out)
    return out.getvalue()


# --- Signing off, and the gate ---


def test_two_members_signing_off_make_the_document_publishable_and_one_does_not(rehearsed, venue, members, anvil):
    subject = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert subject.typed_data["domain"]["chainId"] == str(venue.chain_id)
    assert subject.typed_data["domain"]["verifyingContract"] == venue.recovery_executor
    assert subject.typed_data["message"]["contentHash"] == rehearsed.content_hash

    first = submit(rehearsed, venue, members[0], sign(KEYS[0], subject.typed_data), anvil.url)
    assert (first.signer, first.kind, first.digest) == (ADDRESSES[0], SignOffKind.ECDSA, subject.digest)
    with pytest.raises(SignOffThresholdNotMet, match=r"has 1 of the 2 committee sign-offs") as refused:
        require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert refused.value.status == 409 and ADDRESSES[0] in refused.value.message

    submit(rehearsed, venue, members[2], sign(KEYS[2], subject.typed_data), anvil.url)
    require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    status = signoff_status(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert status == {
        "count": 2,
        "threshold": 2,
        "signers": sorted([ADDRESSES[0], ADDRESSES[2]]),
        "digest": subject.digest,
        "met": True,
    }


def test_the_threshold_comes_from_the_setting(rehearsed, venue, members, anvil, settings):
    settings.SIGNOFF_THRESHOLD = 3
    subject = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk)
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(rehearsed, venue, member, sign(key, subject.typed_data), anvil.url)
    with pytest.raises(SignOffThresholdNotMet, match="2 of the 3"):
        require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)


def test_a_second_signoff_by_the_same_member_is_refused(rehearsed, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    submit(rehearsed, venue, members[0], sign(KEYS[0], typed_data), anvil.url)
    with pytest.raises(SignOffExists, match="already signed off") as refused:
        submit(rehearsed, venue, members[0], sign(KEYS[0], typed_data), anvil.url)
    assert refused.value.status == 409
    assert SignOff.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": 1},
        {"recovery_executor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
        {"content_hash": "0x" + "ab" * 32},
        {"version": 99},
    ],
    ids=["another chain", "another executor", "another hash", "another version"],
)
def test_a_signature_over_other_typed_data_is_refused_naming_what_it_recovers_to(
    rehearsed, venue, members, anvil, change
):
    subject = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk)
    arguments = {
        "chain_id": venue.chain_id,
        "recovery_executor": venue.recovery_executor,
        "incident_id": rehearsed.incident_id,
        "version": rehearsed.version,
        "content_hash": rehearsed.content_hash,
    }
    other = signoff.signoff_typed_data(**{**arguments, **change})
    signature = sign(KEYS[0], other)
    recovered = Account.recover_message(signoff.signable_message(subject.typed_data), signature=signature)
    with pytest.raises(SignatureMismatch) as refused:
        submit(rehearsed, venue, members[0], signature, anvil.url)
    assert refused.value.status == 400
    assert f"recovers to {recovered}, not {ADDRESSES[0]}" in refused.value.message
    assert subject.digest in refused.value.message
    assert not SignOff.objects.exists()


def test_a_signature_by_a_key_that_is_not_the_members_is_refused(rehearsed, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    with pytest.raises(SignatureMismatch, match=f"recovers to {Account.from_key(OUTSIDER_KEY).address}"):
        submit(rehearsed, venue, members[0], sign(OUTSIDER_KEY, typed_data), anvil.url)
    assert not SignOff.objects.exists()


@pytest.mark.parametrize(
    ("signature", "says"),
    [("0x1234", "65 bytes"), ("not hex", "0x-prefixed"), ("0x" + "11" * 64 + "05", "v is 5"), ("0xgg", "not hex")],
)
def test_a_malformed_signature_is_refused_with_the_reason(rehearsed, venue, members, anvil, signature, says):
    with pytest.raises(SignatureMalformed, match=says) as refused:
        submit(rehearsed, venue, members[0], signature, anvil.url)
    assert refused.value.status == 400
    assert not SignOff.objects.exists()


def test_an_inactive_member_cannot_sign_and_its_signoff_stops_counting(rehearsed, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    submit(rehearsed, venue, members[0], sign(KEYS[0], typed_data), anvil.url)
    submit(rehearsed, venue, members[1], sign(KEYS[1], typed_data), anvil.url)
    require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)

    deactivate_committee_member(address=ADDRESSES[1])
    with pytest.raises(SignOffThresholdNotMet, match="1 of the 2"):
        require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert SignOff.objects.count() == 2  # kept on record
    with pytest.raises(NotACommitteeMember, match="no longer an active committee member"):
        submit(rehearsed, venue, members[1], sign(KEYS[1], typed_data), anvil.url)


def test_a_member_who_left_the_committee_role_neither_signs_nor_counts(rehearsed, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(rehearsed, venue, member, sign(key, typed_data), anvil.url)
    members[0].user.groups.clear()
    with pytest.raises(SignOffThresholdNotMet):
        require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    with pytest.raises(NotACommitteeMember, match="no longer in the committee role"):
        submit(rehearsed, venue, members[0], sign(KEYS[0], typed_data), anvil.url)


def test_signoffs_for_the_old_recovery_executor_stop_counting_when_the_venue_changes_it(
    w3, demo, deployer, executor_account, committee_account, timelock, rehearsed, venue, members, anvil
):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(rehearsed, venue, member, sign(key, typed_data), anvil.url)
    require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    # A new RecoveryExecutor for the same governor: adding the venue again points it there.
    constructor = factory(w3, "RecoveryExecutor").constructor(
        timelock, timelock, executor_account.address, committee_account.address
    )
    new_executor = send(w3, deployer, constructor)["contractAddress"]
    venues.add_governor_venue(
        chain_id=demo.chain_id, governor=demo.address("governor"), recovery_executor=new_executor, rpc_url=anvil.url
    )
    with pytest.raises(SignOffThresholdNotMet, match="0 of the 2"):
        require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    results = verify_signoffs(proposal_id=rehearsed.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert [(r.valid, r.current) for r in results] == [(True, False), (True, False)]


def test_a_venue_on_another_chain_than_the_incident_is_refused(rehearsed, venue, members, anvil):
    Incident.objects.filter(pk=rehearsed.incident_id).update(chain_id=1)
    with pytest.raises(VenueChainMismatch, match="governs chain 31337, but proposal") as refused:
        get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert refused.value.status == 409


# --- The rehearsal half of the gate ---


def test_a_document_never_rehearsed_can_be_neither_signed_off_nor_published(document, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk).typed_data
    with pytest.raises(RehearsalRequired, match="rehearse first") as refused:
        submit(document, venue, members[0], sign(KEYS[0], typed_data), anvil.url)
    assert refused.value.status == 409
    assert f"proposal rehearse --proposal {document.pk} --venue {venue.pk}" in refused.value.message
    assert not SignOff.objects.exists()
    with pytest.raises(RehearsalRequired):
        require_publishable(proposal_id=document.pk, venue_id=venue.pk)


def test_a_failed_latest_rehearsal_blocks_signoff_and_publishing_even_after_signatures(document, venue, members, anvil):
    rehearse(document, venue)
    typed_data = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk).typed_data
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(document, venue, member, sign(key, typed_data), anvil.url)
    require_publishable(proposal_id=document.pk, venue_id=venue.pk)
    rehearse(document, venue, status=RehearsalStatus.FAILED)
    with pytest.raises(RehearsalRequired, match="no passed rehearsal"):
        require_publishable(proposal_id=document.pk, venue_id=venue.pk)
    with pytest.raises(RehearsalRequired):
        submit(document, venue, members[2], sign(KEYS[2], typed_data), anvil.url)
    assert SignOff.objects.count() == 2


def test_a_rehearsal_on_another_venue_does_not_count(document, venue, members, anvil, demo):
    other = GovernorVenue.objects.get(pk=venue.pk)
    other.pk, other.governor = None, demo.address("timelock")  # another row: a second venue on the chain
    other.save()
    rehearse(document, other)
    typed_data = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk).typed_data
    with pytest.raises(RehearsalRequired, match=f"no passed rehearsal on venue {venue.pk}"):
        submit(document, venue, members[0], sign(KEYS[0], typed_data), anvil.url)


def test_a_later_failed_rehearsal_on_another_venue_does_not_hide_a_passed_one_on_this_venue(
    document, venue, members, anvil, demo
):
    other = GovernorVenue.objects.get(pk=venue.pk)
    other.pk, other.governor = None, demo.address("timelock")  # another row: a second venue on the chain
    other.save()
    rehearse(document, venue)
    rehearse(document, other, status=RehearsalStatus.FAILED)  # later, elsewhere
    assert passed_rehearsal(proposal_id=document.pk, venue_id=venue.pk) is not None
    assert passed_rehearsal(proposal_id=document.pk, venue_id=other.pk) is None
    typed_data = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk).typed_data
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(document, venue, member, sign(key, typed_data), anvil.url)
    require_publishable(proposal_id=document.pk, venue_id=venue.pk)  # this venue: rehearsed and signed off
    with pytest.raises(RehearsalRequired, match=f"no passed rehearsal on venue {other.pk}"):
        require_publishable(proposal_id=document.pk, venue_id=other.pk)


# --- Contract wallets (EIP-1271) ---


@pytest.fixture
def wallet(w3, demo, deployer):
    """An ERC1271Wallet owned by committee key 0, linked as a committee member of its own."""
    owner = Account.from_key(KEYS[0]).address
    address = send(w3, deployer, factory(w3, "ERC1271Wallet").constructor(owner))["contractAddress"]
    user = UserFactory(username="safe-user", committee=True)
    member, _ = link_committee_member(username=user.username, address=address)
    return member


def test_a_contract_wallet_signs_off_through_eip1271_read_at_a_block_with_its_hash(
    w3, rehearsed, venue, wallet, members, anvil
):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    row = submit(rehearsed, venue, wallet, sign(KEYS[0], typed_data), anvil.url)
    assert (row.kind, row.signer) == (SignOffKind.EIP1271, wallet.address)
    assert row.verified_block_hash == w3.eth.get_block(row.verified_block)["hash"].to_0x_hex()
    submit(rehearsed, venue, members[1], sign(KEYS[1], typed_data), anvil.url)
    require_publishable(proposal_id=rehearsed.pk, venue_id=venue.pk)
    assert all(
        result.valid for result in verify_signoffs(proposal_id=rehearsed.pk, venue_id=venue.pk, rpc_url=anvil.url)
    )


def test_a_contract_wallet_refusing_the_signature_is_refused_with_its_answer(rehearsed, venue, wallet, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    with pytest.raises(SignatureMismatch) as refused:
        submit(rehearsed, venue, wallet, sign(KEYS[1], typed_data), anvil.url)
    message = refused.value.message
    assert f"the contract wallet at {wallet.address} does not accept the signature" in message
    assert "isValidSignature answered 0xffffffff, not 0x1626ba7e" in message
    assert f"recovers to {ADDRESSES[1]}" in message
    assert not SignOff.objects.exists()


def test_a_node_failure_while_asking_a_wallet_is_a_503_that_keeps_the_url_secret(rehearsed, venue, wallet):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    secret_url = "http://127.0.0.1:9/v3/a-secret-api-key"  # nothing listens on the discard port
    with pytest.raises(ChainUnavailable) as refused:
        submit(rehearsed, venue, wallet, sign(KEYS[0], typed_data), secret_url)
    assert refused.value.status == 503
    assert "a-secret-api-key" not in refused.value.message and "127.0.0.1:9" in refused.value.message
    assert not SignOff.objects.exists()


# --- Re-verification ---


def test_anyone_reverifies_the_signoffs_and_a_tampered_one_is_caught(rehearsed, venue, members, anvil):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    for member, key in zip(members[:2], KEYS[:2], strict=True):
        submit(rehearsed, venue, member, sign(key, typed_data), anvil.url)
    out = run("signoffs", "--proposal", str(rehearsed.pk), "--venue", str(venue.pk), "--verify", "--json")
    assert [row["valid"] for row in json.loads(out)["results"]] == [True, True]

    answer = client_as().get(f"/api/proposals/{rehearsed.pk}/signoffs/verify/?venue={venue.pk}").json()
    assert answer["all_valid"] is True and len(answer["results"]) == 2

    # Someone with database access swaps a signature for one over another chain's typed data.
    forged = sign(KEYS[1], {**typed_data, "domain": {**typed_data["domain"], "chainId": "1"}})
    SignOff.objects.filter(signer=ADDRESSES[1]).update(signature=forged)
    with pytest.raises(CommandError, match="1 of 2 sign-offs do not verify"):
        run("signoffs", "--proposal", str(rehearsed.pk), "--venue", str(venue.pk), "--verify")
    answer = client_as().get(f"/api/proposals/{rehearsed.pk}/signoffs/verify/?venue={venue.pk}").json()
    assert answer["all_valid"] is False
    broken = next(r for r in answer["results"] if not r["valid"])
    assert broken["signer"] == ADDRESSES[1] and "recovers to" in broken["reason"]


# --- The API ---


def test_anyone_reads_the_typed_data_and_the_signoffs(rehearsed, venue, members, anvil):
    anonymous = client_as()
    typed = anonymous.get(f"/api/proposals/{rehearsed.pk}/signoff-typed-data/?venue={venue.pk}")
    assert typed.status_code == 200
    body = typed.json()
    assert body["typed_data"]["message"] == {
        "incidentId": str(rehearsed.incident_id),
        "version": str(rehearsed.version),
        "contentHash": rehearsed.content_hash,
    }
    assert body["digest"] == signoff.signoff_digest(body["typed_data"])
    signature = sign(KEYS[0], body["typed_data"])
    submit(rehearsed, venue, members[0], signature, anvil.url)
    listing = anonymous.get(f"/api/proposals/{rehearsed.pk}/signoffs/?venue={venue.pk}").json()
    assert (listing["count"], listing["threshold"], listing["met"]) == (1, 2, False)
    assert listing["digest"] == body["digest"] and listing["typed_data"] == body["typed_data"]
    [row] = listing["signoffs"]
    assert (row["signer"], row["signature"], row["digest"], row["kind"], row["counts"]) == (
        ADDRESSES[0],
        signature,
        body["digest"],
        "ecdsa",
        True,
    )
    # Anyone can check it with nothing but the answer.
    raw = signoff.parse_signature(row["signature"])
    assert signoff.recover_signer(listing["typed_data"], raw).signer == row["signer"]


def test_signing_off_through_the_api_needs_the_committee_role_and_a_linked_address(rehearsed, venue, members):
    url = f"/api/proposals/{rehearsed.pk}/signoffs/"
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    body = {"venue": venue.pk, "signature": sign(KEYS[0], typed_data)}
    assert client_as().post(url, body, format="json").status_code == 401
    refused = client_as(UserFactory()).post(url, body, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    unlinked = UserFactory(username="unlinked", committee=True)
    refused = client_as(unlinked).post(url, body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_a_committee_member"
    assert "proposal committee add --user unlinked" in refused.json()["error"]["message"]
    assert not SignOff.objects.exists()

    created = client_as(members[0].user).post(url, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["signer"] == ADDRESSES[0] and created.json()["counts"] is True
    again = client_as(members[0].user).post(url, body, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "signoff_exists"


def test_a_member_posting_another_members_signature_is_refused(rehearsed, venue, members):
    typed_data = get_signoff_subject(proposal_id=rehearsed.pk, venue_id=venue.pk).typed_data
    answer = client_as(members[0].user).post(
        f"/api/proposals/{rehearsed.pk}/signoffs/",
        {"venue": venue.pk, "signature": sign(KEYS[1], typed_data)},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "signature_mismatch"
    assert f"recovers to {ADDRESSES[1]}, not {ADDRESSES[0]}" in answer.json()["error"]["message"]
    assert not SignOff.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"signature": "0x00"}, "invalid_input"),
        ({"venue": "x", "signature": "0x00"}, "invalid_input"),
        ({"venue": 2**70, "signature": "0x00"}, "invalid_input"),
        ({"venue": 1}, "invalid_input"),
    ],
)
def test_bad_bodies_are_refused_with_400(rehearsed, members, body, code):
    answer = client_as(members[0].user).post(f"/api/proposals/{rehearsed.pk}/signoffs/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


def test_unknown_proposals_venues_and_missing_venue_parameters_answer_4xx(rehearsed, venue, members):
    anonymous = client_as()
    for path, status, code in (
        (f"/api/proposals/999999/signoffs/?venue={venue.pk}", 404, "proposal_not_found"),
        (f"/api/proposals/{rehearsed.pk}/signoffs/?venue=999999", 404, "venue_not_found"),
        (f"/api/proposals/{rehearsed.pk}/signoffs/", 400, "invalid_input"),
        (f"/api/proposals/{rehearsed.pk}/signoff-typed-data/?venue=abc", 400, "invalid_input"),
        (f"/api/proposals/{rehearsed.pk}/signoff-typed-data/?venue=99999999999999999999999", 400, "invalid_input"),
        (f"/api/proposals/{rehearsed.pk}/signoffs/verify/", 400, "invalid_input"),
    ):
        answer = anonymous.get(path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), path
    posted = client_as(members[0].user).post(
        f"/api/proposals/{rehearsed.pk}/signoffs/", {"venue": 999999, "signature": "0x" + "11" * 65}, format="json"
    )
    assert (posted.status_code, posted.json()["error"]["code"]) == (404, "venue_not_found")


# --- The commands ---


def test_the_sign_command_signs_with_a_key_from_the_environment(rehearsed, venue, members, monkeypatch):
    monkeypatch.setenv("LIFEBOAT_TEST_COMMITTEE_KEY", KEYS[1])
    out = run(
        "sign", "--proposal", str(rehearsed.pk), "--venue", str(venue.pk), "--key-env", "LIFEBOAT_TEST_COMMITTEE_KEY"
    )
    assert f"signed off for venue {venue.pk} by {ADDRESSES[1]} (ecdsa)" in out
    assert "1 of 2" in out
    assert KEYS[1] not in out and KEYS[1][2:] not in out


def test_the_sign_command_takes_a_signature_made_by_a_wallet(rehearsed, venue, members):
    typed = json.loads(run("signoffs", "--proposal", str(rehearsed.pk), "--venue", str(venue.pk), "--typed-data"))
    signature = sign(KEYS[2], typed)
    out = run(
        "sign",
        *("--proposal", str(rehearsed.pk), "--venue", str(venue.pk)),
        *("--signature", signature, "--signer", ADDRESSES[2], "--json"),
    )
    answer = json.loads(out)
    assert (answer["signer"], answer["signature"], answer["count"]) == (ADDRESSES[2], signature, 1)


def test_the_sign_command_refuses_bad_keys_and_non_members_without_showing_the_key(
    rehearsed, venue, members, monkeypatch
):
    target = ("--proposal", str(rehearsed.pk), "--venue", str(venue.pk))
    with pytest.raises(CommandError, match="LIFEBOAT_TEST_UNSET is not set"):
        run("sign", *target, "--key-env", "LIFEBOAT_TEST_UNSET")
    not_a_key = "0x" + "zz" * 32
    monkeypatch.setenv("LIFEBOAT_TEST_BAD_KEY", not_a_key)
    with pytest.raises(CommandError) as refused:
        run("sign", *target, "--key-env", "LIFEBOAT_TEST_BAD_KEY")
    assert not_a_key not in str(refused.value) and "not a valid secp256k1 private key" in str(refused.value)
    monkeypatch.setenv("LIFEBOAT_TEST_OUTSIDER_KEY", OUTSIDER_KEY)
    with pytest.raises(CommandError, match="is not an active committee member's address") as refused:
        run("sign", *target, "--key-env", "LIFEBOAT_TEST_OUTSIDER_KEY")
    assert OUTSIDER_KEY not in str(refused.value)
    with pytest.raises(CommandError, match="--signature needs --signer"):
        run("sign", *target, "--signature", "0x00")
    assert not SignOff.objects.exists()


def test_committee_commands_link_list_and_remove_addresses(db):
    UserFactory(username="alice", committee=True)
    assert "alice linked to committee address" in run("committee", "add", "--user", "alice", "--address", ADDRESSES[0])
    assert "already linked" in run("committee", "add", "--user", "alice", "--address", ADDRESSES[0])
    assert json.loads(run("committee", "list", "--json")) == [
        {"user": "alice", "address": ADDRESSES[0], "active": True}
    ]
    with pytest.raises(CommandError, match=f"alice already signs with {ADDRESSES[0]}"):
        run("committee", "add", "--user", "alice", "--address", ADDRESSES[1])
    assert "deactivated" in run("committee", "remove", "--address", ADDRESSES[0])
    assert "alice linked" in run("committee", "add", "--user", "alice", "--address", ADDRESSES[1])
    assert "(inactive)" in run("committee", "list")


def test_linking_is_refused_for_outsiders_taken_addresses_and_unchecksummed_ones(db):
    UserFactory(username="bob", committee=True)
    UserFactory(username="carol", committee=True)
    UserFactory(username="mallory")
    with pytest.raises(RoleRequired, match="mallory is not in the committee role"):
        link_committee_member(username="mallory", address=ADDRESSES[0])
    with pytest.raises(InvalidInput, match="there is no user 'nobody'"):
        link_committee_member(username="nobody", address=ADDRESSES[0])
    with pytest.raises(InvalidInput, match="not checksummed"):
        link_committee_member(username="bob", address=ADDRESSES[0].lower())
    link_committee_member(username="bob", address=ADDRESSES[0])
    with pytest.raises(CommitteeMemberConflict, match="already linked to bob"):
        link_committee_member(username="carol", address=ADDRESSES[0])
    assert CommitteeMember.objects.count() == 1
