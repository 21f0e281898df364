"""The committee's document pages: freeze from the plan page, the document preview, the rehearsal report,
the wallet sign-off's listing and publishing, each guarded by the committee role (GET and POST alike).

A real plan of the exploited demo on the session's anvil; rehearsals requested from the page run on a
real Celery worker; sign-offs are real EIP-712 signatures by the dev committee keys, posted to the API.
"""

import html
import re
import time

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from chain.devkeys import COMMITTEE_KEYS
from chain.keys import load_account
from governance.models import GovernorVenue, Publication, PublicationStatus, SnapshotProposal, SnapshotVenue
from proposals.models import ProposalDocument, Rehearsal, RehearsalStatus, SignOff
from proposals.services import freeze_proposal
from proposals.signoff import signable_message
from proposals.signoffs import get_signoff_subject, link_committee_member
from recovery import plans
from recovery.models import Incident
from tests.factories import PASSWORD, UserFactory, analysed_exploit
from tests.governance.governors import dev_venue, finished_rehearsal
from tests.proposals.test_rehearsal import allocations, fund_with_vault_shares
from web.views_documents import render_body

pytestmark = [pytest.mark.chain]

SECRET = "hunter2-document-pages"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _plain(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", _text(response)))


def _client(user=None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        assert client.login(username=user.username, password=PASSWORD)
    return client


def _holder_client() -> Client:
    """A holder signed in with Ethereum only: a session address, no Django account."""
    client = Client()
    session = client.session
    session["holder_address"] = load_account(private_key=COMMITTEE_KEYS[2]).address
    session.save()
    return client


@pytest.fixture
def plan(anvil, exploited, chain_settings):
    """The exploited demo's plan (restitute in full), not frozen; the incident's description carries markup."""
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    Incident.objects.filter(pk=analysis.incident_id).update(description="Drained <script>alert('x')</script> & more")
    return plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")


@pytest.fixture
def document(plan):
    return freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]


@pytest.fixture
def venue(anvil, demo):
    return dev_venue(demo, anvil)


def _member(index: int):
    """A committee user linked to dev committee key ``index``; (user, account)."""
    account = load_account(private_key=COMMITTEE_KEYS[index])
    user = UserFactory(committee=True)
    link_committee_member(username=user.username, address=account.address)
    return user, account


def _sign_off_through_the_api(document, venue, index: int, member=None) -> None:
    """Dev committee key ``index`` signs off through the API, as ``member`` (user, account) or a new member."""
    user, account = member or _member(index)
    typed = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk).typed_data
    signature = account.sign_message(signable_message(typed)).signature.to_0x_hex()
    client = APIClient()
    client.force_authenticate(user)
    answer = client.post(
        f"/api/proposals/{document.pk}/signoffs/", {"venue": venue.pk, "signature": signature}, format="json"
    )
    assert answer.status_code == 201, answer.content


def _pages(document, rehearsal, plan_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/documents/{document.pk}/", {}),
        ("get", f"/rehearsals/{rehearsal.pk}/", {}),
        ("get", f"/rehearsals/{rehearsal.pk}/status/", {}),
        ("post", f"/plans/{plan_id}/freeze/", {}),
        ("post", f"/documents/{document.pk}/rehearsals/", {"venue": "1"}),
        ("post", f"/documents/{document.pk}/publish/", {"venue": "governor:1"}),
    ]


@pytest.mark.django_db
def test_every_page_and_form_is_for_the_committee_alone(document, venue):
    rehearsal = finished_rehearsal(document, venue, "failed")
    other_plan = plans.build_plan(analysis_id=document.plan.analysis_id, mode="restitute", policy="full")
    executor = UserFactory(executor=True)
    for method, url, data in _pages(document, rehearsal, other_plan.pk):
        for client in (_client(), _holder_client()):
            answer = getattr(client, method)(url, data)
            assert answer.status_code == 302, (method, url)
            assert answer["Location"].startswith("/login/?next="), (method, url)
        refused = getattr(_client(executor), method)(url, data)
        assert refused.status_code == 403, (method, url)
        assert "needs the committee role" in _text(refused)
    # Nothing was written by any refused form.
    assert ProposalDocument.objects.count() == 1
    assert Rehearsal.objects.count() == 1 and not Publication.objects.exists()
    committee = _client(UserFactory(committee=True))
    for url in (f"/documents/{document.pk}/", f"/rehearsals/{rehearsal.pk}/", f"/rehearsals/{rehearsal.pk}/status/"):
        assert committee.get(url).status_code == 200, url
    assert committee.get(f"/plans/{other_plan.pk}/freeze/").status_code == 405


@pytest.mark.django_db
def test_a_form_posted_without_its_csrf_token_is_refused_and_writes_nothing(plan, venue):
    client = _client(UserFactory(committee=True), csrf=True)
    assert client.post(f"/plans/{plan.pk}/freeze/").status_code == 403
    assert not ProposalDocument.objects.exists()
    document = freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]
    assert client.post(f"/documents/{document.pk}/rehearsals/", {"venue": venue.pk}).status_code == 403
    assert client.post(f"/documents/{document.pk}/publish/", {"venue": f"governor:{venue.pk}"}).status_code == 403
    assert not Rehearsal.objects.exists() and not Publication.objects.exists()


@pytest.mark.django_db
def test_freezing_from_the_plan_page_opens_the_document_and_is_idempotent(plan):
    user = UserFactory(committee=True)
    client = _client(user)
    first = client.post(f"/plans/{plan.pk}/freeze/")
    document = ProposalDocument.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/documents/{document.pk}/"
    assert document.plan_id == plan.pk and document.created_by == user
    again = client.post(f"/plans/{plan.pk}/freeze/")
    assert again.status_code == 302 and again["Location"] == f"/documents/{document.pk}/"
    assert ProposalDocument.objects.count() == 1
    missing = client.post(f"/plans/{plan.pk + 1000}/freeze/")
    assert missing.status_code == 404 and f"There is no recovery plan {plan.pk + 1000}." in _text(missing)


@pytest.mark.django_db
def test_the_plan_page_offers_the_freeze_button_then_the_documents_link(plan):
    client = _client(UserFactory(committee=True))
    before = _text(client.get(f"/plans/{plan.pk}/"))
    assert f'action="/plans/{plan.pk}/freeze/"' in before and "Freeze into a proposal document" in before
    document = freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]
    after = _text(client.get(f"/plans/{plan.pk}/"))
    assert f'href="/documents/{document.pk}/"' in after and document.content_hash in after
    assert "Freeze into a proposal document" not in after


@pytest.mark.django_db
def test_the_document_page_shows_the_hash_the_escaped_body_the_links_and_the_next_step(document, venue):
    user = UserFactory(committee=True)
    answer = _client(user).get(f"/documents/{document.pk}/")
    assert answer.status_code == 200
    raw = answer.content.decode()
    text = _text(answer)
    assert document.content_hash in text and "keccak256" in text
    assert f'href="/api/proposals/{document.pk}/document.json"' in raw
    assert f'href="/proposals/{document.pk}/"' in raw
    # The body is rendered from its Markdown, every character of it escaped.
    assert "<script>alert" not in raw and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in raw
    assert "<h4>What happened</h4>" in raw and "<h4>Batches and roots</h4>" in raw
    assert f"content-hash: {document.content_hash}" in text
    # Workflow: rehearse next, on the dev venue; this user has no committee address yet.
    assert re.search(r'data-testid="step-rehearse">next<', raw)
    assert f'<option value="{venue.pk}">' in raw and "not rehearsed here yet" in text
    assert f"manage.py proposal committee add --user {user.username} --address 0x" in text
    assert "Not published anywhere yet." in text
    assert "0 of 2 needed" in text


def test_markdown_subset_escapes_everything_and_keeps_only_its_own_tags():
    rendered = render_body("# T <b>x</b>\n\nSome `<i>` & text\n\n- one\n- `two`\n1. a\n   more\n")
    assert rendered == (
        "<h3>T &lt;b&gt;x&lt;/b&gt;</h3>\n<p>Some <code>&lt;i&gt;</code> &amp; text</p>\n"
        "<ul><li>one</li><li><code>two</code></li></ul>\n<ol><li>a<br>more</li></ol>"
    )


@pytest.mark.django_db
def test_bad_venues_and_unknown_ids_are_refused_with_nothing_stored(document, venue):
    client = _client(UserFactory(committee=True))
    for bad in ("", "x", "0", str(venue.pk + 1000), "-1", "9" * 40):
        answer = client.post(f"/documents/{document.pk}/rehearsals/", {"venue": bad})
        assert answer.status_code == 400, bad
        assert 'aria-describedby="rehearse-error"' in answer.content.decode()
        assert "Choose one of the governor venues listed" in _text(answer)
    GovernorVenue.objects.filter(pk=venue.pk).update(chain_id=10)  # a venue of another chain is not offered
    assert client.post(f"/documents/{document.pk}/rehearsals/", {"venue": venue.pk}).status_code == 400
    GovernorVenue.objects.filter(pk=venue.pk).update(chain_id=document.incident.chain_id)
    for bad in ("", "governor", f"governor:{venue.pk + 1000}", f"snapshot:{venue.pk}", f"other:{venue.pk}"):
        answer = client.post(f"/documents/{document.pk}/publish/", {"venue": bad})
        assert answer.status_code == 400, bad
        assert "Choose one of the venues listed to publish to." in _text(answer)
    missing = document.pk + 1000
    for method, url in (
        ("get", f"/documents/{missing}/"),
        ("post", f"/documents/{missing}/rehearsals/"),
        ("post", f"/documents/{missing}/publish/"),
        ("get", "/rehearsals/999999/"),
        ("get", "/rehearsals/999999/status/"),
    ):
        answer = getattr(client, method)(url, {"venue": venue.pk})
        assert answer.status_code == 404, url
        assert "There is no" in _text(answer)
    assert not Rehearsal.objects.exists() and not Publication.objects.exists()


@pytest.mark.django_db
def test_a_node_that_does_not_answer_is_a_503_in_words_without_the_url_secret(document, venue, settings):
    settings.CHAIN_RPC_URL = f"http://lifeboat:{SECRET}@127.0.0.1:9/rpc?key={SECRET}"
    answer = _client(UserFactory(committee=True)).post(f"/documents/{document.pk}/rehearsals/", {"venue": venue.pk})
    assert answer.status_code == 503
    text = _text(answer)
    assert "failed" in text and 'data-testid="rehearse-error"' in answer.content.decode()
    assert SECRET not in text
    assert not Rehearsal.objects.exists()


@pytest.mark.django_db
def test_the_report_fragment_polls_while_the_rehearsal_runs_and_stops_when_it_ends(document, venue):
    client = _client(UserFactory(committee=True))
    running = Rehearsal.objects.create(
        proposal=document, venue=venue, content_hash=document.content_hash, status=RehearsalStatus.RUNNING
    )
    fragment = client.get(f"/rehearsals/{running.pk}/status/").content.decode()
    assert f'hx-get="/rehearsals/{running.pk}/status/"' in fragment and 'hx-trigger="every 2s"' in fragment
    assert "<html" not in fragment and "updates by itself" in fragment
    page = client.get(f"/rehearsals/{running.pk}/").content.decode()
    assert "web/htmx.min.js" in page and 'hx-trigger="every 2s"' in page
    Rehearsal.objects.filter(pk=running.pk).update(
        status=RehearsalStatus.ERROR,
        error="the rehearsal could not run: the fork did not start",
        finished_at=timezone.now(),
    )
    ended = client.get(f"/rehearsals/{running.pk}/status/").content.decode()
    assert "hx-trigger" not in ended
    assert "could not run, so it says nothing about the plan: the rehearsal could not run: the fork did not start" in (
        html.unescape(ended)
    )


def test_a_rehearsal_requested_from_the_page_runs_on_a_worker_and_its_report_shows(
    celery_worker, w3, demo, deployer, document, venue
):
    fund_with_vault_shares(w3, demo, deployer, sum(allocations(document).values()))
    client = _client(UserFactory(committee=True))

    requested = client.post(f"/documents/{document.pk}/rehearsals/", {"venue": venue.pk})

    rehearsal = Rehearsal.objects.get()
    assert requested.status_code == 302 and requested["Location"] == f"/rehearsals/{rehearsal.pk}/"
    deadline = time.monotonic() + 180
    while "hx-trigger" in (fragment := client.get(f"/rehearsals/{rehearsal.pk}/status/").content.decode()):
        assert time.monotonic() < deadline, "the rehearsal did not finish"
        time.sleep(0.5)
    rehearsal.refresh_from_db()
    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.summary
    page = _plain(client.get(f"/rehearsals/{rehearsal.pk}/"))
    assert "Passed: every call ran, every batch paid" in page
    assert f"{rehearsal.fork_block}, hash {rehearsal.fork_block_hash}" in page
    assert rehearsal.fork_block_hash == w3.eth.get_block(rehearsal.fork_block)["hash"].to_0x_hex()
    checked = len(allocations(document))
    assert f"{checked} of {checked} recipients' balances rose by exactly their allocation" in page
    batches = rehearsal.report["batches"]
    assert batches and page.count("BatchExecuted") >= len(batches)
    for step in (*rehearsal.report["calls"], *batches):
        assert f">{step['gas_used']}<" in html.unescape(fragment)
    assert "approvePlan" in page
    listing = _text(client.get(f"/documents/{document.pk}/"))
    assert re.search(r'data-testid="step-rehearse">done<', client.get(f"/documents/{document.pk}/").content.decode())
    assert f"report {rehearsal.pk}" in listing


@pytest.mark.django_db
def test_a_signoff_made_through_the_api_shows_on_the_page_with_the_threshold(document, venue):
    viewer = _member(1)
    client = _client(viewer[0])
    waiting = _text(client.get(f"/documents/{document.pk}/"))
    assert "Rehearse on this venue first" in waiting and "Sign off with my wallet" not in waiting
    finished_rehearsal(document, venue)
    ready = client.get(f"/documents/{document.pk}/").content.decode()
    assert (
        "Sign off with my wallet" in ready
        and 'data-address="' + load_account(private_key=COMMITTEE_KEYS[1]).address + '"' in ready
    )
    assert f'data-typed-data-url="/api/proposals/{document.pk}/signoff-typed-data/?venue={venue.pk}"' in ready
    assert "web/signoff.js" in ready and "web/wallet.js" in ready

    _sign_off_through_the_api(document, venue, 0)

    signed = SignOff.objects.get()
    text = _text(client.get(f"/documents/{document.pk}/"))
    assert signed.signer in text and signed.member.user.username in text
    assert "1 of 2 needed" in text and "valid" in text
    _sign_off_through_the_api(document, venue, 1, viewer)
    text = _text(client.get(f"/documents/{document.pk}/"))
    assert "2 of 2 needed" in text and "threshold met" in text
    assert "You have signed off this document for this venue." in text


@pytest.mark.django_db
def test_publishing_is_refused_in_words_before_the_threshold_and_done_after(document, venue, w3):
    client = _client(UserFactory(committee=True))
    target = {"venue": f"governor:{venue.pk}"}
    unrehearsed = client.post(f"/documents/{document.pk}/publish/", target)
    assert unrehearsed.status_code == 409
    assert "rehearse first" in _text(unrehearsed)
    finished_rehearsal(document, venue)
    _sign_off_through_the_api(document, venue, 0)

    refused = client.post(f"/documents/{document.pk}/publish/", target)

    assert refused.status_code == 409
    text = _text(refused)
    assert f"has 1 of the 2 committee sign-offs needed for venue {venue.pk}" in text
    assert 'data-testid="publish-error"' in refused.content.decode() and not Publication.objects.exists()
    _sign_off_through_the_api(document, venue, 1)

    published = client.post(f"/documents/{document.pk}/publish/", target)

    assert published.status_code == 302 and published["Location"] == f"/documents/{document.pk}/#publish"
    publication = Publication.objects.get()
    assert publication.status == PublicationStatus.CREATED and publication.proposal_id
    receipt = w3.eth.get_transaction_receipt(publication.tx_hash)
    assert receipt["status"] == 1
    text = _text(client.get(f"/documents/{document.pk}/"))
    assert str(publication.proposal_id) in text and publication.tx_hash in text and "Created on chain" in text
    again = client.post(f"/documents/{document.pk}/publish/", target)
    assert again.status_code == 302 and Publication.objects.count() == 1


@pytest.mark.django_db
def test_a_snapshot_hub_that_does_not_answer_is_a_503_in_words_without_the_url_secret(document, venue, demo):
    finished_rehearsal(document, venue)
    _sign_off_through_the_api(document, venue, 0)
    _sign_off_through_the_api(document, venue, 1)
    space = SnapshotVenue.objects.create(
        space="lifeboat-down.eth",
        chain_id=document.incident.chain_id,
        sequencer_url=f"http://lifeboat:{SECRET}@127.0.0.1:9/?key={SECRET}",
        hub_url=f"http://lifeboat:{SECRET}@127.0.0.1:9/graphql",
        recovery_executor=demo.address("recovery_executor"),
        approver=load_account(private_key=COMMITTEE_KEYS[0]).address,
    )
    client = _client(UserFactory(committee=True))
    page = client.get(f"/documents/{document.pk}/").content.decode()
    assert f'<option value="snapshot:{space.pk}">Snapshot space: lifeboat-down.eth' in page

    answer = client.post(f"/documents/{document.pk}/publish/", {"venue": f"snapshot:{space.pk}"})

    assert answer.status_code == 503
    text = _plain(answer)
    assert SECRET not in answer.content.decode()
    assert "did not answer" in text and "publishing again posts the very same message" in text
    assert "the document was not published" in text and 'data-testid="publish-error"' in answer.content.decode()
    # The signed message is stored before it is posted: publishing again posts the same one.
    row = SnapshotProposal.objects.get()
    assert row.status == "sending" and "Snapshot: lifeboat-down.eth Sending" in text
