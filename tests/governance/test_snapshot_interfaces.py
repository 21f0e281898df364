"""The Snapshot venue's interfaces against real anvil and a real local hub process: `venue add snapshot`,
`venue list`, `proposal publish --venue SPACE`, `proposal status --snapshot`, `proposal approve --snapshot`,
`vote snapshot-typed-data` / `snapshot-submit`, and the API endpoints (reads open, writes with their role,
the vote submission open because its signature authorizes it). No answer shows a URL's credentials."""

import io
import json
import re
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from chain.demo import holder_account
from governance import snapshot_messages
from governance.models.snapshot import SnapshotApproval, SnapshotProposal, SnapshotVenue, SnapshotVote
from governance.snapshot_client import post_message
from tests.factories import UserFactory
from tests.governance.governors import client_as
from tests.snapshot_hub import SPACE_ID

pytestmark = [pytest.mark.django_db]

SECRET = "hunter2-secret"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SNAPSHOT_HTTP_ATTEMPTS = 2
    settings.SNAPSHOT_HTTP_BACKOFF_SECONDS = 0.05


def _run(*args: str, stdin: str | None = None) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    kwargs = {"stdout": out, "stderr": err}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command(*args, **kwargs)
    return SimpleNamespace(out=out.getvalue(), err=err.getvalue())


def _secret_urls(hub) -> dict[str, str]:
    """The hub's URLs with credentials in the user information and the query (the hub ignores both)."""
    base = hub.url.replace("http://", f"http://lifeboat:{SECRET}@")
    return {"sequencer_url": f"{base}/?apikey={SECRET}", "hub_url": f"{base}/graphql?apikey={SECRET}"}


def _no_secret(text: str) -> None:
    assert SECRET not in text
    assert "apikey" not in text


@pytest.fixture
def hub(snapshot_hub, chain_settings):
    return snapshot_hub


@pytest.fixture
def committee():
    return client_as(UserFactory(committee=True))


@pytest.fixture
def executor():
    return client_as(UserFactory(executor=True))


@pytest.fixture
def space_venue(hub, demo, committee) -> SnapshotVenue:
    answer = committee.post(
        "/api/venues/snapshot/",
        {"space": _space(hub), **_secret_urls(hub), "recovery_executor": demo.address("recovery_executor")},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    return SnapshotVenue.objects.get(pk=answer.json()["id"])


def _space(hub) -> str:
    return SPACE_ID


@pytest.fixture
def published(w3, ready, space_venue, committee) -> SnapshotProposal:
    document, _ = ready
    answer = committee.post(f"/api/proposals/{document.pk}/snapshot/", {"venue": space_venue.pk}, format="json")
    assert answer.status_code == 201, answer.content
    w3.provider.make_request("anvil_mine", [1])  # the snapshot block is the head: a chain moves past it
    return SnapshotProposal.objects.get(pk=answer.json()["id"])


def _signed_vote(snapshot_proposal: SnapshotProposal, holder: int, choice: str, reason: str = "") -> dict:
    account = holder_account(holder)
    typed = client_as().get(
        f"/api/snapshot/proposals/{snapshot_proposal.pk}/vote-typed-data/",
        {"voter": account.address, "choice": choice, "reason": reason},
    )
    assert typed.status_code == 200, typed.content
    return snapshot_messages.sign(account, typed.json())


# --- venues ---


def test_the_committee_adds_a_snapshot_venue_and_every_answer_shows_its_urls_redacted(hub, demo, space_venue):
    assert space_venue.hub_url.startswith(f"http://lifeboat:{SECRET}@")  # stored as given, to be used
    reader = client_as()
    detail = reader.get(f"/api/venues/snapshot/{space_venue.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["space"] == _space(hub) and body["kind"] == "snapshot" and body["chain_id"] == demo.chain_id
    assert body["hub_url"].startswith("http://***@127.0.0.1:") and body["hub_url"].endswith("/***")
    assert body["approver_kind"] == "key" and body["recovery_executor"] == demo.address("recovery_executor")
    assert isinstance(body["quorum"], str) and body["quorum"].isdigit()
    page = reader.get("/api/venues/snapshot/")
    assert page.json()["count"] == 1
    for text in (detail.content.decode(), page.content.decode()):
        _no_secret(text)

    listed = _run("venue", "list")
    assert f"snapshot venue {space_venue.pk}: space {_space(hub)}" in listed.out
    as_json = _run("venue", "list", "--json")
    assert [row["kind"] for row in json.loads(as_json.out)] == ["snapshot"]
    _no_secret(listed.out + as_json.out)


def test_the_approver_defaults_to_the_committee_key(space_venue, committee_account):
    assert space_venue.approver == committee_account.address


BAD_VENUES = [
    ({"space": "nobody.eth"}, 404, "snapshot_space_not_found", "nobody.eth"),
    ({"recovery_executor": "0xabc"}, 400, "invalid_input", "recovery_executor"),
    ({"approver": "not an address"}, 400, "invalid_input", "approver"),
    ({"approver_kind": "safe"}, 400, "invalid_input", "Safe approver must be named"),
    ({"approver_kind": "multisig"}, 400, "invalid_input", "approver_kind"),
    ({"hub_url": "ftp://127.0.0.1/graphql"}, 400, "invalid_input", "hub_url must be an http or https URL"),
    ({"sequencer_url": "not a url"}, 400, "invalid_input", "sequencer_url"),
    ({"space": "two words"}, 400, "invalid_input", "not a Snapshot space id"),
]


def test_a_bad_snapshot_venue_is_refused_with_a_clear_message_and_nothing_stored(hub, demo, committee):
    body = {"space": _space(hub), **_secret_urls(hub), "recovery_executor": demo.address("recovery_executor")}
    for change, status, code, words in BAD_VENUES:
        answer = committee.post("/api/venues/snapshot/", {**body, **change}, format="json")
        assert answer.status_code == status, (change, answer.content)
        error = answer.json()["error"]
        assert error["code"] == code and words in error["message"], (change, error)
        _no_secret(answer.content.decode())
    assert not SnapshotVenue.objects.exists()


def test_adding_a_snapshot_venue_needs_the_committee_role(hub, demo, executor):
    body = {"space": _space(hub), "recovery_executor": demo.address("recovery_executor")}
    assert client_as().post("/api/venues/snapshot/", body, format="json").status_code == 401
    refused = executor.post("/api/venues/snapshot/", body, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["detail"]["role"] == "committee"
    assert not SnapshotVenue.objects.exists()


def test_venue_add_snapshot_takes_the_hub_from_its_options_and_lists_both_kinds(hub, demo, anvil, venue):
    urls = _secret_urls(hub)
    args = ["venue", "add", "snapshot", "--space", _space(hub), "--sequencer", urls["sequencer_url"]]
    args += ["--hub", urls["hub_url"], "--recovery-executor", demo.address("recovery_executor")]
    added = _run(*args)
    space_venue = SnapshotVenue.objects.get()
    assert added.out.startswith(f"snapshot venue {space_venue.pk}: space {_space(hub)}")
    assert "reading the space" in added.err
    again = _run(*args, "--json")  # idempotent: the same row, read again
    assert json.loads(again.out)["id"] == space_venue.pk and SnapshotVenue.objects.count() == 1
    listed = _run("venue", "list").out
    assert f"venue {venue.pk}: governor" in listed and f"snapshot venue {space_venue.pk}" in listed
    assert [row["kind"] for row in json.loads(_run("venue", "list", "--json").out)] == ["governor", "snapshot"]
    # `venue probe` reads a space again, named by its id or as snapshot:ID; an integer stays a governor.
    probed = _run("venue", "probe", _space(hub))
    assert probed.out.startswith(f"snapshot venue {space_venue.pk}: space {_space(hub)}") and "again" in probed.err
    assert json.loads(_run("venue", "probe", f"snapshot:{space_venue.pk}", "--json").out)["id"] == space_venue.pk
    assert _run("venue", "probe", str(venue.pk)).out.startswith(f"venue {venue.pk}: governor")
    with pytest.raises(CommandError, match="no Snapshot venue for the space"):
        _run("venue", "probe", "nobody.eth")
    _no_secret(added.out + added.err + again.out + listed + probed.out + probed.err)


def test_venue_add_snapshot_refuses_bad_input_in_one_line(hub, demo):
    executor_address = demo.address("recovery_executor")
    with pytest.raises(CommandError, match="is not checksummed"):
        _run("venue", "add", "snapshot", "--space", _space(hub), "--recovery-executor", executor_address.lower())
    with pytest.raises(CommandError, match=r"nobody\.eth"):
        _run(
            "venue", "add", "snapshot", "--space", "nobody.eth", "--hub", hub.graphql_url,
            "--recovery-executor", executor_address,
        )  # fmt: skip
    assert not SnapshotVenue.objects.exists()


# --- publishing ---


def test_the_committee_publishes_once_and_anyone_reads_the_proposal(published, committee, hub):
    again = committee.post(
        f"/api/proposals/{published.document_id}/snapshot/", {"venue": published.venue_id}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == published.pk
    assert published.status == "created" and published.proposal_id.startswith("0x")
    of_document = client_as().get(f"/api/proposals/{published.document_id}/snapshot/")
    assert [row["id"] for row in of_document.json()] == [published.pk]
    assert client_as().get("/api/proposals/999/snapshot/").status_code == 404
    listed = client_as().get("/api/snapshot/proposals/").json()
    assert listed["count"] == 1 and listed["results"][0]["proposal_id"] == published.proposal_id
    detail = client_as().get(f"/api/snapshot/proposals/{published.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["space"] == _space(hub) and body["envelope"]["sig"] == published.envelope["sig"]
    assert isinstance(body["summary"], dict)
    assert body["for_votes"] == "0"
    _no_secret(detail.content.decode() + json.dumps(listed))


def test_publishing_refuses_unknown_ids_and_needs_the_committee(ready, space_venue, committee, executor):
    document, _ = ready
    unknown_venue = committee.post(f"/api/proposals/{document.pk}/snapshot/", {"venue": 999}, format="json")
    assert unknown_venue.status_code == 404 and unknown_venue.json()["error"]["code"] == "snapshot_venue_not_found"
    unknown_document = committee.post("/api/proposals/999/snapshot/", {"venue": space_venue.pk}, format="json")
    assert unknown_document.status_code == 404
    bad = committee.post(f"/api/proposals/{document.pk}/snapshot/", {"venue": "lifeboat.eth"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["detail"]["field"] == "venue"
    assert client_as().post(f"/api/proposals/{document.pk}/snapshot/", {"venue": space_venue.pk}).status_code == 401
    assert executor.post(f"/api/proposals/{document.pk}/snapshot/", {"venue": space_venue.pk}).status_code == 403
    assert not SnapshotProposal.objects.exists()


def test_proposal_publish_takes_a_space_a_snapshot_id_or_a_governor_id(ready, space_venue, hub):
    document, _ = ready
    first = _run("proposal", "publish", "--proposal", str(document.pk), "--venue", _space(hub))
    published = SnapshotProposal.objects.get()
    assert f"snapshot proposal {published.pk}: proposal document {document.pk} in the space" in first.out
    assert "signed proposal" in first.out  # progress first
    again = _run(
        "proposal", "publish", "--proposal", str(document.pk), "--venue", f"snapshot:{space_venue.pk}", "--json"
    )
    assert json.loads(again.out)["id"] == published.pk and SnapshotProposal.objects.count() == 1
    with pytest.raises(CommandError, match=r"there is no Snapshot venue for the space 'nobody\.eth'"):
        _run("proposal", "publish", "--proposal", str(document.pk), "--venue", "nobody.eth")
    with pytest.raises(CommandError, match="there is no Snapshot venue 999"):
        _run("proposal", "publish", "--proposal", str(document.pk), "--venue", "snapshot:999")
    with pytest.raises(CommandError, match="there is no venue 999"):
        _run("proposal", "publish", "--proposal", str(document.pk), "--venue", "999")  # a governor's id
    _no_secret(first.out + again.out)


def test_a_space_on_two_hubs_must_be_named_by_its_snapshot_id(ready, space_venue, hub, demo, committee):
    other = committee.post(
        "/api/venues/snapshot/",
        {
            "space": _space(hub),
            "sequencer_url": hub.sequencer_url.replace("127.0.0.1", "localhost"),
            "hub_url": hub.graphql_url.replace("127.0.0.1", "localhost"),
            "recovery_executor": demo.address("recovery_executor"),
        },
        format="json",
    )
    assert other.status_code == 201, other.content
    document, _ = ready
    with pytest.raises(CommandError, match=rf"snapshot:{space_venue.pk} .*snapshot:{other.json()['id']}") as refused:
        _run("proposal", "publish", "--proposal", str(document.pk), "--venue", _space(hub))
    _no_secret(str(refused.value))
    assert not SnapshotProposal.objects.exists()


# --- votes, following, status ---


def test_a_holder_votes_through_the_api_without_an_account_and_anyone_reads_the_votes(published, executor, hub):
    envelope = _signed_vote(published, 0, "for", reason="pay them back")
    submitted = client_as().post(f"/api/snapshot/proposals/{published.pk}/votes/", envelope, format="json")
    assert submitted.status_code == 201, submitted.content
    answer = submitted.json()
    assert answer["voter"] == holder_account(0).address and answer["choice"] == 1
    assert answer["vp"].isdigit() and int(answer["vp"]) > 0

    # Another holder's wallet posts straight to the hub; Lifeboat finds the vote when it follows.
    post_message(hub.sequencer_url, _signed_vote(published, 1, "against"))

    followed = executor.post(f"/api/snapshot/proposals/{published.pk}/follow/")
    assert followed.status_code == 200, followed.content
    assert followed.json()["for_votes"] == answer["vp"]
    votes = client_as().get(f"/api/snapshot/proposals/{published.pk}/votes/", {"page_size": 1}).json()
    assert votes["count"] == 2 and votes["next"]
    [vote] = votes["results"]
    assert vote["voter"] == holder_account(0).address and vote["choice_name"] == "For" and vote["via_lifeboat"]
    assert vote["sig"] == envelope["sig"] and vote["vp"] == answer["vp"]
    # Following fills in the hub's own (float, token-unit) power of the vote Lifeboat forwarded.
    assert Decimal(vote["hub_vp"]) * 10**18 == int(answer["vp"])
    assert vote["reason"] == "pay them back"
    [wallet_vote] = client_as().get(votes["next"]).json()["results"]
    assert wallet_vote["voter"] == holder_account(1).address and wallet_vote["choice_name"] == "Against"
    assert wallet_vote["vp"].isdigit() and wallet_vote["hub_vp"] and wallet_vote["sig"].startswith("0x")
    assert not wallet_vote["via_lifeboat"]


def test_the_vote_typed_data_refuses_a_bad_voter_or_choice(published):
    holder = holder_account(0).address
    cases = [
        ({"voter": "0xnope", "choice": "for"}, "voter"),
        ({"voter": holder.lower(), "choice": "for"}, "voter"),
        ({"choice": "for"}, "voter"),
        ({"voter": holder, "choice": "maybe"}, "choice"),
        ({"voter": holder, "choice": "0"}, "choice"),
        ({"voter": holder}, "choice"),
        ({"voter": holder, "choice": "for", "reason": "x" * 5_001}, "reason"),
    ]
    for query, field in cases:
        answer = client_as().get(f"/api/snapshot/proposals/{published.pk}/vote-typed-data/", query)
        assert answer.status_code == 400, (query, answer.content)
        assert answer.json()["error"]["detail"]["field"] == field


def _malformed(envelope: dict) -> list[object]:
    wrong_domain = json.loads(json.dumps(envelope))
    wrong_domain["data"]["domain"]["chainId"] = 1
    other_sig = dict(envelope, sig="0x" + "11" * 65)
    return [[envelope], "just text", {}, {"address": envelope["address"]}, wrong_domain, other_sig]


def test_a_malformed_vote_envelope_is_refused_with_a_400_and_nothing_forwarded(published):
    envelope = _signed_vote(published, 0, "against")
    for body in _malformed(envelope):
        answer = client_as().post(f"/api/snapshot/proposals/{published.pk}/votes/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert answer.json()["error"]["message"]
    assert not SnapshotVote.objects.exists()


def test_unknown_snapshot_ids_answer_404(published, executor):
    for path in ("", "votes/", "approval/"):
        answer = client_as().get(f"/api/snapshot/proposals/999/{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "snapshot_proposal_not_found"
    typed = client_as().get(
        "/api/snapshot/proposals/999/vote-typed-data/", {"voter": holder_account(0).address, "choice": "for"}
    )
    assert typed.status_code == 404
    envelope = _signed_vote(published, 0, "for")
    assert client_as().post("/api/snapshot/proposals/999/votes/", envelope, format="json").status_code == 404
    assert executor.post("/api/snapshot/proposals/999/follow/").status_code == 404
    assert executor.post("/api/snapshot/proposals/999/approve/").status_code == 404
    assert client_as().get("/api/venues/snapshot/999/").status_code == 404


def test_following_and_approving_need_their_roles(published, committee):
    plain = client_as(UserFactory())
    for action in ("follow", "approve"):
        url = f"/api/snapshot/proposals/{published.pk}/{action}/"
        anonymous = client_as().post(url)
        assert anonymous.status_code == 401 and anonymous.has_header("WWW-Authenticate")
        assert plain.post(url).status_code == 403
    assert committee.post(f"/api/snapshot/proposals/{published.pk}/follow/").status_code == 200
    refused = committee.post(f"/api/snapshot/proposals/{published.pk}/approve/")
    assert refused.status_code == 403 and refused.json()["error"]["detail"]["role"] == "executor"


def test_vote_commands_print_the_typed_data_and_submit_a_signed_envelope(published, tmp_path):
    voter = holder_account(1)
    typed = _run(
        "vote", "snapshot-typed-data", "--snapshot", str(published.pk), "--voter", voter.address, "--choice", "against"
    )
    data = json.loads(typed.out)
    assert data["message"]["choice"] == 2 and data["message"]["proposal"] == published.proposal_id
    envelope = snapshot_messages.sign(voter, data)
    path = tmp_path / "vote.json"
    path.write_text(json.dumps(envelope))
    submitted = _run("vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", str(path), "--json")
    assert json.loads(submitted.out)["voter"] == voter.address
    # The same voter changes their mind a second later (the hub orders votes by their timestamp), through
    # standard input this time.
    time.sleep(1.1)
    changed = snapshot_messages.sign(
        voter,
        json.loads(
            _run(
                "vote", "snapshot-typed-data", "--snapshot", str(published.pk), "--voter", voter.address,
                "--choice", "abstain",
            ).out
        ),
    )  # fmt: skip
    again = _run(
        "vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", "-", stdin=json.dumps(changed)
    )
    assert f"{voter.address} chose 3" in again.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--choice", "maybe"], "not a choice of Snapshot's basic voting"),
        (["--choice", "for", "--voter-override", "0xabc"], "voter"),
    ],
)
def test_vote_snapshot_typed_data_refuses_bad_input(published, args, message):
    voter = holder_account(1).address
    if "--voter-override" in args:
        voter, args = args[-1], args[:2]
    with pytest.raises(CommandError, match=message):
        _run("vote", "snapshot-typed-data", "--snapshot", str(published.pk), "--voter", voter, *args)


def test_vote_snapshot_submit_refuses_a_missing_or_malformed_file(published, tmp_path):
    with pytest.raises(CommandError, match="cannot read it"):
        _run("vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="not JSON"):
        _run("vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", str(bad))
    with pytest.raises(CommandError, match="expected the signed envelope, a JSON object"):
        _run("vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", "-", stdin="[1, 2]")
    with pytest.raises(CommandError):
        _run("vote", "snapshot-submit", "--snapshot", str(published.pk), "--envelope", "-", stdin="{}")
    assert not SnapshotVote.objects.exists()


def test_proposal_status_needs_one_proposal_and_keeps_the_governor_form():
    with pytest.raises(CommandError, match="name one proposal"):
        _run("proposal", "status")
    with pytest.raises(CommandError, match="name one proposal"):
        _run("proposal", "status", "--publication", "1", "--snapshot", "1")
    with pytest.raises(CommandError, match="there is no Snapshot proposal 999"):
        _run("proposal", "status", "--snapshot", "999")
    with pytest.raises(CommandError, match="999"):
        _run("proposal", "status", "--publication", "999")


# --- end to end: votes, close, passage, approval ---


def test_a_passed_proposal_is_approved_once_through_the_command_and_the_api(published, executor, hub):
    not_yet = client_as().get(f"/api/snapshot/proposals/{published.pk}/approval/")
    assert not_yet.status_code == 404 and not_yet.json()["error"]["code"] == "snapshot_approval_not_found"
    early = executor.post(f"/api/snapshot/proposals/{published.pk}/approve/")
    assert early.status_code == 409, early.content
    with pytest.raises(CommandError):
        _run("proposal", "approve", "--snapshot", str(published.pk))

    for holder, choice in ((0, "for"), (1, "against"), (2, "abstain")):
        envelope = _signed_vote(published, holder, choice)
        answer = client_as().post(f"/api/snapshot/proposals/{published.pk}/votes/", envelope, format="json")
        assert answer.status_code == 201, answer.content

    status = _run("proposal", "status", "--snapshot", str(published.pk), "--follow")
    assert f"snapshot proposal {published.pk}: {published.proposal_id}" in status.out
    assert "(3 votes)" in status.out and "hub's scores" in status.out
    time.sleep(max(0.0, published.end - time.time()) + 1.5)
    closed = json.loads(_run("proposal", "status", "--snapshot", str(published.pk), "--follow", "--json").out)
    assert isinstance(closed, dict)
    published.refresh_from_db()
    assert published.state == "closed" and published.outcome == "passed", published.outcome_reason

    approved = json.loads(_run("proposal", "approve", "--snapshot", str(published.pk), "--json").out)
    assert approved["status"] == "confirmed", approved
    assert approved["transactions"] and all("raw" not in tx for tx in approved["transactions"])
    again = executor.post(f"/api/snapshot/proposals/{published.pk}/approve/")
    assert again.status_code == 200 and again.json()["transactions"] == approved["transactions"]
    assert SnapshotApproval.objects.count() == 1
    shown = client_as().get(f"/api/snapshot/proposals/{published.pk}/approval/").json()
    assert shown["status"] == "confirmed" and shown["transactions"] == approved["transactions"]
    by_hand = _run("proposal", "approve", "--snapshot", str(published.pk)).out
    assert f"snapshot proposal {published.pk}: approval confirmed by the key" in by_hand
    text = _run("proposal", "status", "--snapshot", str(published.pk)).out
    assert "outcome: passed" in text and "approval: confirmed" in text
    as_json = json.loads(_run("proposal", "status", "--snapshot", str(published.pk), "--json").out)
    assert as_json["outcome"] == "passed" and as_json["approval"]["transactions"] == approved["transactions"]
    _no_secret(text + json.dumps(closed) + json.dumps(shown))


# --- the schema and roles ---


def test_every_snapshot_write_refuses_anonymous_callers_and_users_without_a_role_except_the_vote():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    # Snapshot the voting venue; the archive's state snapshots (/api/state-snapshots/) are tested in tests/archive.
    paths = [p for p in schema["paths"] if "snapshot" in p and "state-snapshots" not in p]
    assert len(paths) == 10
    writes = [
        (path, method)
        for path in paths
        for method in schema["paths"][path]
        if method in {"post", "put", "patch", "delete"}
    ]
    assert len(writes) == 5
    plain = client_as(UserFactory())
    for path, method in writes:
        url = re.sub(r"\{\w+\}", "1", path)
        anonymous = getattr(APIClient(), method)(url, {}, format="json")
        if path == "/api/snapshot/proposals/{snapshot_proposal_id}/votes/":
            assert anonymous.status_code == 404, anonymous.content  # open: the signature decides (no proposal 1)
            continue
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.has_header("WWW-Authenticate")
        assert getattr(plain, method)(url, {}, format="json").status_code == 403, (method, path)
