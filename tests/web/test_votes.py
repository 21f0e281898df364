"""The holders' vote panel on the proposal page and its live tally fragment.

A real plan of the exploited demo, proposed on the dev governor (``active`` from the governance
tests: three holders voted For, Against and Abstain), followed with a confirmation depth of 0;
and Snapshot proposal rows as the follower stores them. Read with Django's test client,
anonymously and as a holder signed in with Ethereum (the session's ``holder_address``).
"""

import html
import re
import time

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from chain.demo import holder_account, holder_votes
from governance import following
from governance.models import SnapshotProposal, SnapshotProposalStatus, SnapshotVenue, SnapshotVote
from governance.models.votes import VoteRecord
from proposals.document import format_units
from tests.governance import conftest as governance
from tests.governance.governors import propose

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

# The governance tests' fixtures, used here as they are.
active, depth, document, venue, voting_deployer = (
    governance.active,
    governance.depth,
    governance.document,
    governance.venue,
    governance.voting_deployer,
)


def _units(votes: int) -> str:
    """Votes in the demo token's units (18 decimals), exact."""
    return format_units(votes, 18)


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _words(response) -> str:
    """The response's text without tags, its whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", _text(response)))


def _holder(address: str) -> Client:
    client = Client()
    session = client.session
    session["holder_address"] = address
    session.save()
    return client


@pytest.fixture
def followed(active, anvil):
    """The ``active`` proposal followed: Active, its three votes indexed."""
    publication, _ = active
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "active" and publication.votes.count() == 3
    return publication


def _snapshot_proposal(for_document, demo, *, start: int, end: int, state: str, snapshot: int) -> SnapshotProposal:
    space = SnapshotVenue.objects.create(
        space="lifeboat-votes.eth",
        chain_id=demo.chain_id,
        sequencer_url="http://127.0.0.1:1/sequencer-secret-token",
        hub_url="http://127.0.0.1:1/graphql?hub-secret-token",
        recovery_executor=demo.address("recovery_executor"),
        approver=demo.address("recovery_executor"),
        token=demo.address("token"),
        quorum=4 * 10**18,
    )
    return SnapshotProposal.objects.create(
        document=for_document,
        venue=space,
        status=SnapshotProposalStatus.CREATED,
        proposal_id="0x" + "cd" * 32,
        envelope={},
        author=demo.address("recovery_executor"),
        timestamp=start,
        start=start,
        end=end,
        snapshot=snapshot,
        snapshot_block_hash="0x" + "00" * 32,
        state=state,
        for_votes=3 * 10**18,
        votes_count=1,
    )


# --- the governor ---


def test_an_active_governor_vote_shows_the_panel_with_choices_and_the_wallet_actions(followed):
    page = Client().get(f"/proposals/{followed.document_id}/")

    assert page.status_code == 200
    text = _text(page)
    key = f"governor-{followed.pk}"
    assert f'data-testid="vote-form-{key}"' in text
    assert "<legend>Your vote</legend>" in text
    for value in ("for", "against", "abstain"):
        assert f'name="choice-{key}" value="{value}"' in text
    assert f'<label for="reason-{key}">' in text
    assert f'id="vote-wallet-{key}"' in text and f'id="vote-gasless-{key}"' in text
    assert f'data-chain-id="{followed.venue.chain_id}"' in text
    assert f'data-governor="{followed.venue.governor}"' in text
    assert f'data-proposal-id="{followed.proposal_id}"' in text
    assert f'data-typed-data-url="/api/publications/{followed.pk}/ballot-typed-data/"' in text
    assert f'data-submit-url="/api/publications/{followed.pk}/ballots/"' in text
    # Without JavaScript: the actions stay hidden and the panel says what voting needs.
    assert "Voting needs a browser wallet" in text
    assert re.search(r'<div class="actions wallet-only" hidden>', text)
    # The scripts once, from the project.
    assert text.count('<script src="/static/web/vote.js"') == 1
    assert text.count('<script src="/static/web/wallet.js"') == 1
    # Anonymous: no standing, and how to see it.
    assert "Sign in with Ethereum (or connect your wallet below)" in text


def test_the_live_tally_polls_while_open_and_shows_the_indexed_counts(followed):
    answer = Client().get(f"/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/")

    assert answer.status_code == 200
    text = _text(answer)
    key = f"governor-{followed.pk}"
    assert f'hx-get="/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/"' in text
    assert 'hx-trigger="every 3s"' in text and 'hx-swap="outerHTML"' in text
    votes = int(followed.for_votes)
    assert f'data-testid="tally-for-{key}" title="{votes:,} base units">{_units(votes)}<' in text
    votes = int(followed.against_votes)
    assert f'data-testid="tally-against-{key}" title="{votes:,} base units">{_units(votes)}<' in text
    votes = int(followed.abstain_votes)
    assert f'data-testid="tally-abstain-{key}" title="{votes:,} base units">{_units(votes)}<' in text
    assert f'data-testid="tally-votes-{key}">3<' in text
    assert "<html" not in text  # a fragment, not a page


def test_a_holder_who_voted_sees_their_recorded_choice_weight_and_block(followed):
    record = VoteRecord.objects.get(publication=followed, voter=holder_account(0).address)

    answer = _holder(holder_account(0).address).get(f"/proposals/{followed.document_id}/")
    text, words = _text(answer), _words(answer)

    weight = _units(int(record.weight))
    assert f"You voted For with {weight} votes (block {record.block_number}): counted in the tally." in words
    assert int(record.weight) == holder_votes(0)
    power = f"{_units(holder_votes(0))}</strong> votes at the proposal's snapshot"
    assert f"{power}, at block {followed.vote_start:,}" in text


def test_a_holder_who_has_not_voted_sees_their_voting_power_at_the_snapshot(followed):
    holder = holder_account(5)

    text = _text(_holder(holder.address).get(f"/proposals/{followed.document_id}/"))

    assert f'data-testid="power-governor-{followed.pk}">{_units(holder_votes(5))}</strong>' in text
    assert f"({holder_votes(5):,} base units)" in text
    assert "You have not voted here yet." in text


def test_the_fragment_shows_the_standing_of_the_wallet_given_as_voter_and_keeps_it_while_polling(followed):
    voter = holder_account(1).address
    url = f"/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/"

    answer = Client().get(url, {"voter": voter.lower()})

    assert "You voted Against with" in _words(answer)
    text = _text(answer)
    assert f'hx-get="{url}?voter={voter}"' in text


def test_a_pending_governor_vote_says_when_it_opens_and_does_not_poll(
    w3, anvil, depth, venue, document, voting_deployer
):
    publication, _ = propose(w3, voting_deployer, venue, document)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "pending"

    page = _text(Client().get(f"/proposals/{document.pk}/"))
    fragment = _text(Client().get(f"/proposals/{document.pk}/venues/governor/{publication.pk}/tally/"))

    assert f"Voting has not started: it opens after block {publication.vote_start:,}." in page
    assert "vote-form-" not in page and "Vote from my wallet" not in page
    assert "hx-trigger" not in fragment


def test_a_closed_governor_vote_says_so_and_stops_polling(followed):
    followed.state = "defeated"
    followed.save(update_fields=["state"])

    page = _text(Client().get(f"/proposals/{followed.document_id}/"))
    fragment = _text(Client().get(f"/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/"))

    assert "Voting has closed: the proposal is defeated." in page
    assert "Vote from my wallet" not in page
    assert "hx-trigger" not in fragment


def test_a_proposal_not_followed_yet_says_voting_is_not_open(w3, anvil, depth, venue, document, voting_deployer):
    propose(w3, voting_deployer, venue, document)

    page = _text(Client().get(f"/proposals/{document.pk}/"))

    assert "Voting is not open yet: the proposal has not been followed on chain yet." in page


# --- Snapshot ---


def test_an_active_snapshot_vote_shows_the_snapshot_action_and_the_voters_power(w3, demo, document):
    now = int(time.time())
    head = w3.eth.block_number
    proposal = _snapshot_proposal(document, demo, start=now - 60, end=now + 3_600, state="active", snapshot=head - 1)
    holder = holder_account(4)
    key = f"snapshot-{proposal.pk}"

    text = _text(_holder(holder.address).get(f"/proposals/{document.pk}/"))

    assert f'id="vote-snapshot-{key}"' in text and "Vote from my wallet" not in text
    assert f'data-typed-data-url="/api/snapshot/proposals/{proposal.pk}/vote-typed-data/"' in text
    assert f'data-submit-url="/api/snapshot/proposals/{proposal.pk}/votes/"' in text
    assert f'data-testid="power-{key}">{_units(holder_votes(4))}</strong>' in text
    assert f"at the proposal's snapshot, block {head - 1:,}" in text
    assert 'hx-trigger="every 3s"' in text
    # The hub's and sequencer's URLs (secret-bearing) and the node's URL never reach the page.
    assert "secret-token" not in text and "127.0.0.1:1" not in text
    assert settings.CHAIN_RPC_URL not in text


def test_a_snapshot_vote_submitted_shows_until_the_follower_counts_it(w3, demo, document):
    now = int(time.time())
    proposal = _snapshot_proposal(
        document, demo, start=now - 60, end=now + 3_600, state="active", snapshot=w3.eth.block_number - 1
    )
    holder = holder_account(4)
    SnapshotVote.objects.create(
        proposal=proposal, voter=holder.address, vote_id="0x" + "ee" * 32, choice=2, created=now, vp=holder_votes(4)
    )
    url = f"/proposals/{document.pk}/venues/snapshot/{proposal.pk}/tally/"

    waiting = _words(_holder(holder.address).get(url))
    SnapshotProposal.objects.filter(pk=proposal.pk).update(followed_at=timezone.now())
    counted = _words(_holder(holder.address).get(url))

    said = f"You voted Against with {_units(holder_votes(4))} votes"
    assert f"{said}: accepted by the hub; counted here at the next follow." in waiting
    assert f"{said}: counted in the tally." in counted


@pytest.mark.parametrize(
    ("start", "end", "state", "said"),
    [
        (3_600, 7_200, "pending", "Voting has not started: it opens at "),
        (-7_200, -60, "closed", "Voting has closed: it ended at "),
        (-7_200, -60, "active", "Voting has closed: it ended at "),  # past its end, whatever was stored
    ],
)
def test_a_snapshot_vote_outside_its_window_says_why_and_does_not_poll(w3, demo, document, start, end, state, said):
    now = int(time.time())
    proposal = _snapshot_proposal(document, demo, start=now + start, end=now + end, state=state, snapshot=1)

    page = _text(Client().get(f"/proposals/{document.pk}/"))
    fragment = _text(Client().get(f"/proposals/{document.pk}/venues/snapshot/{proposal.pk}/tally/"))

    assert said in page and "UTC." in page
    assert "Sign my Snapshot vote" not in page
    assert "hx-trigger" not in fragment


# --- refusals ---


def test_an_unknown_venue_or_kind_is_a_404_page(followed):
    document_id = followed.document_id

    for url in (
        f"/proposals/{document_id}/venues/governor/{followed.pk + 100}/tally/",
        f"/proposals/{document_id + 100}/venues/governor/{followed.pk}/tally/",
        f"/proposals/{document_id}/venues/tally/{followed.pk}/tally/",
        f"/proposals/{document_id}/venues/snapshot/{followed.pk}/tally/",
    ):
        answer = Client().get(url)
        assert answer.status_code == 404, url
        assert "has no" in _text(answer)


def test_a_voter_that_is_not_an_address_is_a_400_saying_why(followed):
    answer = Client().get(f"/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/", {"voter": "0x12"})

    assert answer.status_code == 400
    assert "0x12 is not an address: 0x followed by 40 hex digits." in _text(answer)


def test_the_fragment_takes_no_post(followed):
    url = f"/proposals/{followed.document_id}/venues/governor/{followed.pk}/tally/"

    assert Client(enforce_csrf_checks=True).post(url).status_code == 403  # no CSRF token
    assert Client().post(url).status_code == 405


def test_the_panel_names_no_node_url_or_key(followed):
    from config.preflight import load_role_account

    text = _text(_holder(holder_account(0).address).get(f"/proposals/{followed.document_id}/"))

    assert settings.CHAIN_RPC_URL not in text
    for role in ("relayer", "proposer", "executor"):
        account = load_role_account(role)
        assert account.key.hex().removeprefix("0x") not in text


def test_a_node_that_does_not_answer_leaves_the_power_unknown_and_the_page_up(followed, settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9/node-secret-token"  # nothing listens on the discard port

    answer = _holder(holder_account(0).address).get(f"/proposals/{followed.document_id}/")

    assert answer.status_code == 200
    words = _words(answer)
    assert "voting power unknown: the node did not answer." in words
    # The indexed vote still shows, and the URL never does.
    assert "You voted For with" in words and "counted in the tally" in words
    assert "node-secret-token" not in _text(answer)
