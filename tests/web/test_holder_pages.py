"""The holders' read-only pages: the proposals list, a proposal page, its accounts table and "my account".

A real plan of the exploited demo, frozen, published on the dev governor and voted on through
anvil; the pages are read anonymously with Django's test client.
"""

import html
import re
import secrets
import time

import pytest
from django.db import connection
from django.test import Client
from eth_utils import keccak, to_checksum_address

from chain.artifacts import bind
from chain.demo import holder_account
from chain.transact import send
from governance import following
from governance.models import SnapshotProposal, SnapshotProposalStatus, SnapshotVenue
from recovery.models import AccountImpact, ImpactAnalysis, ImpactKind, PlanAsset, RecoveryPlan
from recovery.selectors import account_position
from tests.factories import IncidentFactory
from tests.governance.governors import (
    AGAINST,
    FOR,
    dev_venue,
    finished_rehearsal,
    frozen_document,
    mine,
    propose,
    vote_call,
)
from web import selectors_holders

pytestmark = [pytest.mark.django_db]


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def published(w3, anvil, demo, deployer, exploited, chain_settings, settings):
    """The exploited demo's plan frozen, rehearsed, proposed on the dev governor, voted For and Against, followed."""
    settings.CONFIRMATION_DEPTH = 0
    send(w3, deployer, bind(w3, "LifeboatToken", demo.address("token")).functions.delegate(deployer.address))
    document = frozen_document(anvil, exploited)
    venue = dev_venue(demo, anvil)
    finished_rehearsal(document, venue)
    publication, _ = propose(w3, deployer, venue, document)
    mine(w3, 2)
    send(w3, deployer, vote_call(w3, publication, FOR))
    send(w3, holder_account(1), vote_call(w3, publication, AGAINST))
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    return document, venue, publication


@pytest.mark.chain
def test_the_list_and_the_proposal_page_show_the_published_plan_with_its_numbers(published, exploited):
    document, venue, publication = published
    client = Client()  # anonymous: reading needs no sign-in

    listing = client.get("/proposals/")
    assert listing.status_code == 200
    text = _text(listing)
    assert document.incident.title in text and f"Governor: {venue.name}" in text
    assert publication.state == "active" and ">active<" in text
    assert f"For {int(publication.for_votes):,}" in text and f"Against {int(publication.against_votes):,}" in text
    assert int(publication.for_votes) > 0 and "blocks left" in text
    assert f'href="/proposals/{document.pk}/"' in text

    page = client.get(f"/proposals/{document.pk}/")
    assert page.status_code == 200
    text = _text(page)
    assert document.content_hash in text and f"/api/proposals/{document.pk}/document.json" in text
    assert "keccak256" in text
    plan_asset = document.plan.assets.get()
    assert f"{int(plan_asset.total_allocated):,}" in text and f"{int(plan_asset.total_claims):,}" in text
    assert re.search(r'<svg[^>]+role="img"[^>]+aria-labelledby="loss-chart-0-title loss-chart-0-desc"', text)
    assert '<title id="loss-chart-0-title">' in text and '<desc id="loss-chart-0-desc">' in text
    # The chart's numbers are in its table too, and add up to every account that lost.
    losers = AccountImpact.objects.filter(
        analysis_id=document.plan.analysis_id, asset=plan_asset.asset, kind=ImpactKind.BALANCE, delta__lt=0
    ).count()
    bins = selectors_holders.loss_histogram(analysis_id=document.plan.analysis_id, asset=plan_asset.asset)
    assert sum(b.accounts for b in bins) == losers == len(exploited["victims"])
    assert f"({losers:,} in all)" in text
    assert "exploiter named in the incident" in text and exploited["attacker"] in text
    assert "Passed" in text  # the rehearsal
    quorum = int(venue.quorum)
    counted = int(publication.for_votes) + int(publication.abstain_votes)
    assert f"{counted:,} of " in text and quorum > 0
    assert "None: the proposal only approves the payments." in text

    # The accounts table: every victim, largest loss first, each linking to its own page.
    rows = re.findall(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"', text)
    assert sorted(rows) == sorted(exploited["victims"])
    losses = [
        -int(d)
        for d in AccountImpact.objects.filter(
            analysis_id=document.plan.analysis_id, asset=plan_asset.asset, account__in=rows
        ).values_list("delta", flat=True)
    ]
    assert sorted(losses, reverse=True) == [
        -int(AccountImpact.objects.get(analysis_id=document.plan.analysis_id, asset=plan_asset.asset, account=a).delta)
        for a in rows
    ]

    victim = rows[0]
    mine_page = client.get(f"/proposals/{document.pk}/accounts/{victim.lower()}/")
    assert mine_page.status_code == 200
    text = _text(mine_page)
    position = account_position(plan_id=document.plan_id, account=victim)["assets"][0]
    assert f"{int(position['allocation']):,}" in text and f"{int(position['before']):,}" in text
    assert position["proof"] and all(node in text for node in position["proof"])
    assert position["allocation_root"] in text


@pytest.mark.chain
def test_search_by_address_prefix_and_pagination_of_the_accounts(published, exploited, monkeypatch):
    document, _, _ = published
    client = Client()
    victim = exploited["victims"][5]
    prefix = victim[:7].lower()
    found = _text(client.get(f"/proposals/{document.pk}/", {"q": prefix}))
    shown = re.findall(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"', found)
    assert victim in shown and all(a.lower().startswith(prefix) for a in shown)
    upper = _text(client.get(f"/proposals/{document.pk}/", {"q": "0x" + victim[2:9].upper()}))
    assert victim in re.findall(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"', upper)
    full = _text(client.get(f"/proposals/{document.pk}/", {"q": victim.lower()}))
    assert re.findall(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"', full) == [victim]
    nobody = _text(client.get(f"/proposals/{document.pk}/", {"q": "0x" + "0" * 39 + "1"}))
    assert "No affected account matches." in nobody

    monkeypatch.setattr(selectors_holders, "ACCOUNTS_PER_PAGE", 5)
    seen = []
    for number in range(1, 5):
        text = _text(client.get(f"/proposals/{document.pk}/", {"page": number}))
        seen += re.findall(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"', text)
        assert f"Page {number} of 4" in text
    assert sorted(seen) == sorted(exploited["victims"]) and len(seen) == len(set(seen))
    last = _text(client.get(f"/proposals/{document.pk}/", {"page": 99}))
    assert "Page 4 of 4" in last  # past the end: the last page


@pytest.mark.chain
def test_unknown_ids_addresses_and_bad_searches_answer_clear_4xx_pages(published, exploited):
    document, _, _ = published
    client = Client()
    for url, status, message in (
        ("/proposals/999999/", 404, "There is no proposal document 999999."),
        ("/proposals/999999/accounts/0x" + "1" * 40 + "/", 404, "There is no proposal document 999999."),
        (f"/proposals/{document.pk}/accounts/0x1234/", 404, "is not an address"),
        (f"/proposals/{document.pk}/accounts/not-an-address/", 404, "is not an address"),
        (f"/proposals/{document.pk}/accounts/0x{'1' * 40}/", 404, "is not affected by proposal"),
        (f"/proposals/{document.pk}/?asset=0x{'2' * 40}", 404, "pays no asset"),
        (f"/proposals/{document.pk}/?q=0xzz", 400, "search by the start of an address"),
        (f"/proposals/{document.pk}/?q=0x{'a' * 41}", 400, "search by the start of an address"),
        (f"/proposals/{document.pk}/?q=%3Cscript%3E", 400, "search by the start of an address"),
    ):
        answer = client.get(url)
        assert answer.status_code == status, url
        assert message in _text(answer), url
        assert "<script>" not in answer.content.decode()
    assert client.get("/proposals/abc/").status_code == 404
    assert client.get(f"/proposals/{document.pk}/", {"page": "abc"}).status_code == 200  # the first page


@pytest.mark.chain
def test_no_page_shows_a_secret_url(published, exploited, settings):
    document, _, _ = published
    key = secrets.token_hex(16)
    settings.CHAIN_RPC_URL = settings.CHAIN_RPC_URL.rstrip("/") + f"/?apikey={key}"
    client = Client()
    victim = exploited["victims"][0]
    for url in ("/proposals/", f"/proposals/{document.pk}/", f"/proposals/{document.pk}/accounts/{victim}/"):
        answer = client.get(url)
        assert answer.status_code == 200
        text = answer.content.decode()
        assert key not in text and settings.CHAIN_RPC_URL not in text
        for secret in settings.LIFEBOAT_SECRETS:
            if secret and len(secret) >= 12:
                assert secret not in text, url


def test_snapshot_proposals_are_listed_with_their_space_tally_and_time_left(published_snapshot):
    document, _ = published_snapshot
    text = _text(Client().get("/proposals/"))
    assert "Snapshot: lifeboat-pages.eth" in text and ">active<" in text
    assert "For 3,000,000,000,000,000,000" in text and "left" in text
    page = _text(Client().get(f"/proposals/{document.pk}/"))
    assert "Snapshot: lifeboat-pages.eth" in page and "3,000,000,000,000,000,000 of 4,000,000,000,000,000,000" in page
    assert "(75%" in page and "secret-token" not in page


@pytest.fixture
def published_snapshot(anvil, exploited, chain_settings):
    """The exploited plan's document with a Snapshot proposal row as the follower stores it (tally in base units)."""
    document = frozen_document(anvil, exploited)
    venue = SnapshotVenue.objects.create(
        space="lifeboat-pages.eth",
        chain_id=31337,
        sequencer_url="http://127.0.0.1:1/secret-token",
        hub_url="http://127.0.0.1:1/graphql?secret-token",
        recovery_executor=exploited["vault"],
        approver=exploited["vault"],
        quorum=4 * 10**18,
    )
    now = int(time.time())
    proposal = SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status=SnapshotProposalStatus.CREATED,
        proposal_id="0x" + "ab" * 32,
        envelope={},
        author=exploited["vault"],
        timestamp=now - 60,
        start=now - 60,
        end=now + 3_600,
        snapshot=1,
        snapshot_block_hash="0x" + "00" * 32,
        state="active",
        for_votes=3 * 10**18,
        votes_count=2,
    )
    return document, proposal


def test_an_empty_list_says_so():
    answer = Client().get("/proposals/")
    assert answer.status_code == 200 and "No proposal has been published yet." in _text(answer)


def test_the_accounts_query_of_a_100000_account_plan_is_served_by_indexes(django_assert_num_queries):
    incident = IncidentFactory()
    analysis = ImpactAnalysis.objects.create(incident=incident, rollback_block=1, reference_block=2)
    asset = to_checksum_address("0x" + "ee" * 20)
    rows = []
    for i in range(100_000):
        account = to_checksum_address(keccak(i.to_bytes(4, "big"))[-20:])
        loss = (i * 7919 % 1_000_003 + 1) * 10**12
        rows.append(AccountImpact(analysis=analysis, account=account, asset=asset, before=loss, after=0, delta=-loss))
    AccountImpact.objects.bulk_create(rows, batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    deep = selectors_holders.list_affected_accounts(analysis_id=analysis.pk, asset=asset)[40_000:40_050]
    _assert_uses_index(deep.explain(), *_DEEP)
    search = selectors_holders.list_affected_accounts(analysis_id=analysis.pk, asset=asset, prefix="abc")[:50]
    _assert_uses_index(search.explain(), *_UNIQUE_ACCOUNT_INDEX)
    exact = selectors_holders.list_affected_accounts(analysis_id=analysis.pk, asset=asset, prefix=rows[7].account[2:])
    _assert_uses_index(exact[:50].explain(), *_UNIQUE_ACCOUNT_INDEX)
    assert [row.account for row in exact] == [rows[7].account]
    found = list(search)
    assert found and all(row.account.lower().startswith("0xabc") for row in found)
    assert len(found) == sum(1 for row in rows if row.account.lower().startswith("0xabc"))
    assert [-int(row.delta) for row in found] == sorted((-int(row.delta) for row in found), reverse=True)

    # A deep page: the count, then the page with its allocations; nothing scans in Python.
    plan = RecoveryPlan.objects.create(incident=incident, analysis=analysis, version=1, mode="restitute", policy="full")
    plan_asset = PlanAsset.objects.create(plan=plan, asset=asset, payout_token=asset)
    with django_assert_num_queries(2):
        page, shown = selectors_holders.affected_accounts_page(
            plan_asset=plan_asset, analysis_id=analysis.pk, prefix="", page=801
        )
    assert page.paginator.count == 100_000 and len(shown) == 50
    assert [row.loss for row in shown] == sorted((row.loss for row in shown), reverse=True)
    assert [row.account for row in shown] == [row.account for row in deep]
    # The statements the table runs read the same indexes as the querysets above.
    read = {"plan_asset_id": plan_asset.pk, "analysis_id": analysis.pk, "asset": asset}
    _assert_uses_index(_explain(*selectors_holders.accounts_page_sql(**read, prefix="", offset=40_000)), *_DEEP)
    for prefix in ("abc", rows[7].account[2:].lower()):
        sql, params = selectors_holders.accounts_page_sql(**read, prefix=prefix, offset=0)
        _assert_uses_index(_explain(sql, params), *_UNIQUE_ACCOUNT_INDEX)
    with django_assert_num_queries(3):
        bins = selectors_holders.loss_histogram(analysis_id=analysis.pk, asset=asset)
    assert sum(b.accounts for b in bins) == 100_000


# The (analysis, account, asset, kind) unique constraint: SQLite names its index itself.
_UNIQUE_ACCOUNT_INDEX = ("one_row_per_account_asset", "sqlite_autoindex_recovery_accountimpact_1")
_DEEP = ("impact_delta", "impact_delta_account")


def _explain(sql: str, params: list) -> str:
    """The database's plan of a statement the table runs, as text (``QuerySet.explain`` for raw SQL)."""
    with connection.cursor() as cursor:
        cursor.execute(f"{connection.ops.explain_query_prefix()} {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _assert_uses_index(plan: str, *names: str) -> None:
    """The query plan reads ``recovery_accountimpact`` through one of the indexes ``names``, never by a table scan."""
    assert any(re.search(rf"\b{re.escape(name)}\b", plan) for name in names), plan
    if connection.vendor == "sqlite":
        assert not re.search(r"SCAN recovery_accountimpact(?! USING)", plan), plan
    else:
        assert "Seq Scan on recovery_accountimpact" not in plan, plan
