"""Reads behind the holders' pages: the proposals list, a proposal page, its affected accounts and "my account".

Everything here reads the database the services wrote; the only chain reads are the live quorum
and clock of a governor publication (``governor_venue_status``), with a short timeout and no retry
so a slow node never holds a page. Amounts stay ``int`` in base units; the views format them.

The affected accounts of a plan asset are its analysis's losers (``AccountImpact`` rows with
``delta < 0``), largest loss first: ``impact_delta_account`` (analysis, asset, kind, delta,
account) serves that order, a deep page of a completed analysis from its first row (a keyset);
an address-prefix search is a few index ranges on ``one_row_per_account_asset`` (analysis,
account, ...). Neither reads the plan's rows in Python. The proposal pages' first read and the
table's are SQL written here (``find_proposal_head``, ``accounts_page_sql``): the ORM's building
of a query cost more CPU than the database's answer (``benchmarks/RESULTS.md``, "Web load").

What cannot change is computed once per process and kept in Django's cache: a completed
analysis's rows are final (``recovery.impact`` writes them in the transaction that completes it,
and a completed analysis is never run again), so its loss histogram and losers' count are kept
under ``analysis_cache_key`` (its page starts in a per-process memo under the same key) -- the
analysis's id with its creation and completion times, which no later analysis can repeat even
where ids are reused (a test database flushed between tests); a document's parsed body,
per-asset totals and published roots are kept under its content hash, which names its bytes.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import product
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.fields import CharField
from eth_utils import to_checksum_address

from chain.errors import ChainError
from chain.governor import TIMESTAMP_CLOCK_MODE
from chain.logs import RawRpc
from chain.payouts import PLAN_APPROVED, PLAN_CLOSED, PLAN_REVOKED, PULL, ClaimStatus, claim_status
from chain.rpc import connect
from chain.votes import read_quorum_and_clock
from governance.following_selectors import stored_tally
from governance.models import Publication, PublicationStatus, SnapshotProposal, SnapshotProposalStatus
from governance.snapshot_following import snapshot_proposal_summary
from proposals.models import ProposalDocument, Rehearsal, RehearsalStatus
from recovery.models import (
    AccountImpact,
    Allocation,
    AnalysisStatus,
    ImpactAnalysis,
    ImpactKind,
    Incident,
    PlanAsset,
    RecoveryPlan,
)
from recovery.selectors import account_position

PROPOSALS_PER_PAGE = 20
ACCOUNTS_PER_PAGE = 50
# A prefix search expands the case of at most this many hex letters into index ranges (2**5 = 32
# ranges); the rest of the prefix is matched on the few rows those ranges hold.
_CASE_EXPANDED_LETTERS = 5
_PREFIX = re.compile(r"^(?:0[xX])?([0-9a-fA-F]{0,40})$")
_ADDRESS = re.compile(r"^0[xX][0-9a-fA-F]{40}$")
# A page's chain read gives up fast: the page shows the stored facts without it.
_PAGE_RPC_TIMEOUT = 3
# Cached values are constants of their key; the timeout only bounds how long an unread one stays.
_CACHE_SECONDS = 24 * 3_600
_CACHE_PREFIX = "lifeboat:holders:v1"


class InvalidSearch(ValueError):
    """The accounts search is not the start of an address (0x and hex digits)."""


# --- the proposals list ---


@dataclass(frozen=True, slots=True)
class VenueStatus:
    """One venue a document is published on, as a page shows it."""

    kind: str  # governor or snapshot
    venue: str  # the governor's name or the Snapshot space
    proposal_id: str
    state: str
    for_votes: int
    against_votes: int
    abstain_votes: int
    quorum: int | None  # base units; None when unknown
    quorum_counted: int
    quorum_progress_percent: int | None  # 0..100, floored; None when the quorum is unknown
    quorum_reached: bool | None
    time_left: str  # e.g. "2 h 5 min left", "ended", "ends at block 120"
    votes: int
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class ProposalRow:
    document_id: int
    title: str
    plan_version: int
    created_at: datetime
    venue: VenueStatus


def list_published_proposals(*, page: str | int | None) -> tuple[Page, list[ProposalRow]]:
    """One page of every published proposal (governor publications and Snapshot proposals), newest first.

    Published means created on chain or on the hub; a publication still sending or failed is not
    shown. ``page`` is the raw query value: anything that is not a page number gives the first or
    last page (``Paginator.get_page``).
    """
    governor = (
        Publication.objects.filter(status=PublicationStatus.CREATED)
        .annotate(kind=Value("governor", output_field=CharField()))
        .values_list("created_at", "pk", "kind")
        .order_by()
    )
    snapshot = (
        SnapshotProposal.objects.filter(status=SnapshotProposalStatus.CREATED)
        .annotate(kind=Value("snapshot", output_field=CharField()))
        .values_list("created_at", "pk", "kind")
        .order_by()
    )
    union = governor.union(snapshot, all=True).order_by("-created_at", "-pk")
    current = Paginator(union, PROPOSALS_PER_PAGE).get_page(page)
    keys = list(current.object_list)
    publications = Publication.objects.select_related("venue", "document", "document__incident").in_bulk(
        [pk for _, pk, kind in keys if kind == "governor"]
    )
    snapshots = SnapshotProposal.objects.select_related("venue", "document", "document__incident").in_bulk(
        [pk for _, pk, kind in keys if kind == "snapshot"]
    )
    now = int(time.time())
    rows = []
    for created_at, pk, kind in keys:
        row = publications[pk] if kind == "governor" else snapshots[pk]
        status = governor_venue_status(row, live=False) if kind == "governor" else snapshot_venue_status(row, now=now)
        rows.append(
            ProposalRow(
                document_id=row.document_id,
                title=row.document.incident.title,
                plan_version=row.document.version,
                created_at=created_at,
                venue=status,
            )
        )
    return current, rows


def governor_venue_status(publication: Publication, *, live: bool) -> VenueStatus:
    """A governor publication's stored state and tally; with ``live``, the quorum and clock read at the head.

    Without ``live`` (the list), the quorum is the venue's probed one and the time left is counted
    from the last followed block (block clock) or from now (timestamp clock). GovernorCountingSimple
    counts For and Abstain towards the quorum.
    """
    venue = publication.venue
    tally = stored_tally(publication)
    timestamp_clock = venue.clock_mode.startswith(TIMESTAMP_CLOCK_MODE)
    quorum: int | None = int(venue.quorum)
    clock: int | None = None
    if live and publication.vote_start is not None:
        quorum, clock = _read_quorum_and_clock(governor=venue.governor, timepoint=publication.vote_start)
    if clock is None:
        clock = int(time.time()) if timestamp_clock else publication.followed_block
    counted = tally.for_votes + tally.abstain_votes
    return VenueStatus(
        kind="governor",
        venue=venue.name,
        proposal_id="" if publication.proposal_id is None else str(publication.proposal_id),
        state=publication.state or "pending",
        for_votes=tally.for_votes,
        against_votes=tally.against_votes,
        abstain_votes=tally.abstain_votes,
        quorum=quorum,
        quorum_counted=counted,
        quorum_progress_percent=_percent(counted, quorum),
        quorum_reached=None if quorum is None else counted >= quorum,
        time_left=_governor_time_left(publication, clock=clock, timestamp_clock=timestamp_clock),
        votes=publication.votes.count(),
    )


def snapshot_venue_status(proposal: SnapshotProposal, *, now: int | None = None) -> VenueStatus:
    """A Snapshot proposal's state, Lifeboat's own tally and the space's quorum (``snapshot_proposal_summary``)."""
    summary = snapshot_proposal_summary(proposal, now=now)
    quorum, total = int(summary["quorum"]), int(summary["total"])
    state = summary["state"]
    if state == "closed" or summary["seconds_left"] == 0:
        left = "ended"
    elif state == "pending":
        left = f"starts in {_duration(summary['seconds_left'])}"
    else:
        left = f"{_duration(summary['seconds_left'])} left"
    return VenueStatus(
        kind="snapshot",
        venue=proposal.venue.space,
        proposal_id=proposal.proposal_id,
        state=state,
        for_votes=int(summary["tally"]["for"]),
        against_votes=int(summary["tally"]["against"]),
        abstain_votes=int(summary["tally"]["abstain"]),
        quorum=quorum,
        quorum_counted=total,
        quorum_progress_percent=_percent(total, quorum),
        quorum_reached=summary["quorum_met"],
        time_left=left,
        votes=summary["votes"],
        outcome=summary["outcome"] or "",
    )


def _read_quorum_and_clock(*, governor: str, timepoint: int) -> tuple[int | None, int | None]:
    try:
        with RawRpc(settings.CHAIN_RPC_URL, timeout=_PAGE_RPC_TIMEOUT, retries=0) as rpc:
            return read_quorum_and_clock(rpc, governor=governor, timepoint=timepoint)
    except ChainError:
        return None, None  # the page shows the stored tally; the quorum and clock stay unknown


def _governor_time_left(publication: Publication, *, clock: int | None, timestamp_clock: bool) -> str:
    end = publication.vote_end
    if end is None:
        return "not followed yet"
    if publication.state and publication.state not in ("pending", "active"):
        return "ended"
    if clock is None:
        return f"ends at {'time' if timestamp_clock else 'block'} {end:,}"
    left = max(end - clock, 0)
    if left == 0:
        return "ended"
    if timestamp_clock:
        return f"{_duration(left)} left"
    return f"{left:,} block{'s' if left != 1 else ''} left (ends at block {end:,})"


def _duration(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _percent(counted: int, quorum: int | None) -> int | None:
    if quorum is None:
        return None
    if quorum == 0:
        return 100
    return min(counted * 100 // quorum, 100)


# --- one proposal ---


@dataclass(frozen=True, slots=True)
class AssetTotals:
    asset: str
    decimals: int | None
    losers: int | None
    total_losses: int | None
    total_claims: int
    total_allocated: int
    budget: int | None  # None: full claims
    recipients: int | None
    dust_count: int
    dust_total: int
    payout_token: str
    batch_count: int


@dataclass(frozen=True, slots=True)
class HistogramBin:
    """Losses ``low <= loss < high`` (base units) and how many accounts lost that much."""

    low: int
    high: int
    accounts: int


@dataclass(frozen=True, slots=True)
class ProposalView:
    document: ProposalDocument
    body: dict[str, Any]  # the canonical JSON, parsed
    assets: list[AssetTotals]
    venues: list[VenueStatus]
    rehearsal: Rehearsal | None


@dataclass(frozen=True, slots=True)
class ProposalHead:
    """What the proposal pages read first, in one query: the document, its analysis's cache key, what else to read.

    ``document`` has its id, version and content hash loaded, with its plan (id, incident,
    analysis, delivery) and incident (id, title); their other fields (the canonical bytes, among
    them) load on first access, which only a cache miss makes.
    """

    document: ProposalDocument
    analysis_id: int
    analysis_key: str | None  # analysis_cache_key of the plan's analysis
    governor_published: bool  # a governor publication created on chain
    snapshot_published: bool  # a Snapshot proposal created on the hub
    rehearsal_id: int | None  # latest_rehearsal's id


def find_proposal_head(*, proposal_id: int) -> ProposalHead | None:
    """The proposal page's first read: the document, its analysis's key and whether venues and a rehearsal exist.

    One SQL statement instead of four ORM queries (the document with its plan and analysis, the
    governor publications, the Snapshot proposals, the latest rehearsal): under load the ORM's
    building of a query (1 to 2 ms of CPU each on the benchmark's machine, against 0.05 ms to
    send the text) was most of the page's cost, and most documents are not published yet. The
    venues and the rehearsal are then read by the ORM only when they exist.
    """
    document, plan, analysis = ProposalDocument._meta, RecoveryPlan._meta, ImpactAnalysis._meta
    finished = (RehearsalStatus.PASSED, RehearsalStatus.FAILED, RehearsalStatus.ERROR)
    # The same order as latest_rehearsal's (its ORM SQL), so both pick the same row on any database.
    # Table names from the models' meta; every value is a parameter.
    sql = f"""
        SELECT d.id, d.incident_id, d.plan_id, d.version, d.content_hash,
               a.id, a.status, a.created_at, a.finished_at,
               p.delivery, n.title,
               EXISTS (SELECT 1 FROM {Publication._meta.db_table} g WHERE g.document_id = d.id AND g.status = %s),
               EXISTS (SELECT 1 FROM {SnapshotProposal._meta.db_table} s WHERE s.document_id = d.id AND s.status = %s),
               (SELECT r.id FROM {Rehearsal._meta.db_table} r WHERE r.proposal_id = d.id AND r.status IN (%s, %s, %s)
                ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)
        FROM {document.db_table} d
        JOIN {plan.db_table} p ON p.id = d.plan_id
        JOIN {analysis.db_table} a ON a.id = p.analysis_id
        JOIN {Incident._meta.db_table} n ON n.id = d.incident_id
        WHERE d.id = %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [PublicationStatus.CREATED, SnapshotProposalStatus.CREATED, *finished, proposal_id])
        row = cursor.fetchone()
    if row is None:
        return None
    alias = connection.alias
    incident_id, plan_id, analysis_id = row[1], row[2], row[5]
    loaded = ProposalDocument.from_db(alias, ["id", "incident_id", "plan_id", "version", "content_hash"], row[:5])
    fields = ["id", "incident_id", "analysis_id", "delivery"]
    loaded.plan = RecoveryPlan.from_db(alias, fields, [plan_id, incident_id, analysis_id, row[9]])
    loaded.incident = Incident.from_db(alias, ["id", "title"], [incident_id, row[10]])
    status, created, finished_at = row[6], _aware(row[7]), _aware(row[8])
    key = None
    if status == AnalysisStatus.COMPLETED and created is not None:
        key = _analysis_key(analysis_id=analysis_id, created_at=created, finished_at=finished_at)
    return ProposalHead(
        document=loaded,
        analysis_id=analysis_id,
        analysis_key=key,
        governor_published=bool(row[11]),
        snapshot_published=bool(row[12]),
        rehearsal_id=row[13],
    )


def _aware(value: datetime | str | None) -> datetime | None:
    """A timestamp read by raw SQL as the ORM reads it: SQLite hands back naive UTC text, PostgreSQL a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def analysis_cache_key(analysis: ImpactAnalysis) -> str | None:
    """The cache key of a completed analysis's rows, or None while they may still change.

    The id alone is not enough: a database flushed and filled again (the test suite) reuses ids.
    ``created_at`` is set by the database row's creation (``auto_now_add``) to the microsecond,
    so a later analysis with the same id has another; ``finished_at`` is added for good measure.
    """
    if analysis.status != AnalysisStatus.COMPLETED or analysis.created_at is None:
        return None
    return _analysis_key(analysis_id=analysis.pk, created_at=analysis.created_at, finished_at=analysis.finished_at)


def _analysis_key(*, analysis_id: int, created_at: datetime, finished_at: datetime | None) -> str:
    finished = "" if finished_at is None else finished_at.isoformat()
    return f"{_CACHE_PREFIX}:analysis:{analysis_id}:{created_at.isoformat()}:{finished}"


def _cached(key: str | None, compute: Any) -> Any:
    """``compute()``, kept under ``key`` (None: not cached)."""
    if key is None:
        return compute()
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, _CACHE_SECONDS)
    return value


def proposal_view(document: ProposalDocument, *, head: ProposalHead | None = None) -> ProposalView:
    """What the proposal page shows of ``document``: its JSON, per-asset totals, every venue's tally, the rehearsal.

    Every venue the document is published on (created on chain or on the hub) is read, the
    governor ones with their live quorum and clock. The parsed body and the totals are constants
    of the document's bytes, cached under its content hash. With ``head`` (``find_proposal_head``,
    just read), the venues and the rehearsal are read only when it says they exist.
    """
    body, assets = _cached(f"{_CACHE_PREFIX}:document:{document.content_hash}", lambda: _document_facts(document))
    now = int(time.time())
    venues = []
    if head is None or head.governor_published:
        publications = (
            Publication.objects.select_related("venue")
            .filter(document=document, status=PublicationStatus.CREATED)
            .order_by("pk")
        )
        venues += [governor_venue_status(row, live=True) for row in publications]
    if head is None or head.snapshot_published:
        snapshots = (
            SnapshotProposal.objects.select_related("venue")
            .filter(document=document, status=SnapshotProposalStatus.CREATED)
            .order_by("pk")
        )
        venues += [snapshot_venue_status(row, now=now) for row in snapshots]
    if head is None:
        rehearsal = latest_rehearsal(document)
    else:
        rehearsal = None if head.rehearsal_id is None else _rehearsal(head.rehearsal_id)
    return ProposalView(document=document, body=body, assets=assets, venues=venues, rehearsal=rehearsal)


def _document_facts(document: ProposalDocument) -> tuple[dict[str, Any], list[AssetTotals]]:
    """The document's canonical JSON, parsed, and each asset's totals as it states them."""
    body = json.loads(document.canonical_bytes)
    impact = body.get("impact") or {}
    assets = [
        AssetTotals(
            asset=entry["asset"],
            decimals=entry.get("decimals"),
            losers=(impact.get(entry["asset"]) or {}).get("losers"),
            total_losses=_int_or_none((impact.get(entry["asset"]) or {}).get("total_losses")),
            total_claims=int(entry["total_claims"]),
            total_allocated=int(entry["total_allocated"]),
            budget=_int_or_none(entry.get("budget")),
            recipients=entry.get("recipients"),
            dust_count=entry.get("dust_count", 0),
            dust_total=int(entry.get("dust_total", "0")),
            payout_token=entry.get("payout_token", entry["asset"]),
            batch_count=entry.get("batch_count", 0),
        )
        for entry in body.get("assets", [])
    ]
    return body, assets


def asset_decimals(document: ProposalDocument) -> dict[str, int | None]:
    """Each asset's decimals as the document states them."""
    return {entry["asset"]: entry.get("decimals") for entry in json.loads(document.canonical_bytes).get("assets", [])}


def _rehearsal(rehearsal_id: int) -> Rehearsal | None:
    return Rehearsal.objects.defer("report").filter(pk=rehearsal_id).first()  # None if deleted meanwhile


def latest_rehearsal(document: ProposalDocument) -> Rehearsal | None:
    """The newest finished rehearsal of ``document`` (passed, failed or error), or None."""
    finished = (RehearsalStatus.PASSED, RehearsalStatus.FAILED, RehearsalStatus.ERROR)
    return (
        Rehearsal.objects.filter(proposal=document, status__in=finished)
        .defer("report")
        .order_by("-finished_at", "-pk")
        .first()
    )


def loss_histogram(*, analysis_id: int, asset: str, analysis_key: str | None = None) -> list[HistogramBin]:
    """The asset's losses in decades of base units (10**k <= loss < 10**(k+1)), smallest first.

    Three indexed queries: the largest and smallest loss (the two ends of ``impact_delta``), then
    one count per decade between them, filtered on the same index range. With ``analysis_key``
    (``analysis_cache_key``: a completed analysis), computed once and then read from the cache.
    """
    if analysis_key is not None:
        key = f"{analysis_key}:histogram:{asset}"
        return _cached(key, lambda: loss_histogram(analysis_id=analysis_id, asset=asset))
    losers = _losers(analysis_id=analysis_id, asset=asset)
    largest = losers.order_by("delta").values_list("delta", flat=True).first()
    if largest is None:
        return []
    smallest = losers.order_by("-delta").values_list("delta", flat=True).first()
    low, high = len(str(-smallest)) - 1, len(str(-largest)) - 1
    decades = range(low, high + 1)
    counts = losers.aggregate(
        **{f"d{k}": Count("pk", filter=Q(delta__lte=-(10**k), delta__gt=-(10 ** (k + 1)))) for k in decades}
    )
    return [HistogramBin(10**k, 10 ** (k + 1), counts[f"d{k}"]) for k in range(low, high + 1)]


def _losers(*, analysis_id: int, asset: str) -> QuerySet[AccountImpact]:
    return AccountImpact.objects.filter(analysis_id=analysis_id, asset=asset, kind=ImpactKind.BALANCE, delta__lt=0)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# --- the affected accounts ---


@dataclass(frozen=True, slots=True)
class AffectedAccount:
    account: str
    before: int
    after: int
    loss: int
    claim: int | None  # None: no allocation row (excluded, or under the dust threshold)
    allocation: int | None


def get_plan_asset(*, plan_id: int, asset: str | None, analysis_key: str | None = None) -> PlanAsset | None:
    """The plan's asset named ``asset`` (any case), or its first asset when ``asset`` is empty; None when none.

    A plan never changes once built, so with ``analysis_key`` (its completed analysis) the plan's
    assets are read once and then from the cache, under the analysis key and the plan's id.
    """
    if analysis_key is not None:
        rows = _cached(f"{analysis_key}:plan:{plan_id}:assets", lambda: list(_plan_assets(plan_id)))
        if not asset:
            return rows[0] if rows else None
        return next((row for row in rows if row.asset.lower() == asset.lower()), None)
    if not asset:
        return _plan_assets(plan_id).first()
    return _plan_assets(plan_id).filter(asset__iexact=asset).first()


def _plan_assets(plan_id: int) -> QuerySet[PlanAsset]:
    return PlanAsset.objects.filter(plan_id=plan_id).only("pk", "plan_id", "asset", "payout_token").order_by("pk")


def parse_address_prefix(text: str) -> str:
    """The lowercase hex digits of an address prefix (``0xAbC`` -> ``abc``); ``InvalidSearch`` when it is not one."""
    match = _PREFIX.match(text.strip())
    if match is None:
        raise InvalidSearch("search by the start of an address: 0x followed by up to 40 hex digits (0-9, a-f)")
    return match.group(1).lower()


def list_affected_accounts(*, analysis_id: int, asset: str, prefix: str = "") -> QuerySet[AccountImpact]:
    """The asset's losers in the analysis, largest loss first (ties by account), whose address starts with ``prefix``.

    ``prefix`` is lowercase hex without 0x (``parse_address_prefix``). Addresses are stored
    EIP-55 checksummed, so a prefix matches whatever the case of its letters: the first
    ``_CASE_EXPANDED_LETTERS`` letters are expanded into index ranges on (analysis, account),
    and the whole prefix is then matched on the rows in them. The accounts table reads the same
    rows, in the same order, by ``accounts_page_sql``.
    """
    rows = _losers(analysis_id=analysis_id, asset=asset)
    if prefix:
        if len(prefix) == 40:
            matching = rows.filter(account=to_checksum_address("0x" + prefix))
        else:
            ranges = Q()
            for low, high in _prefix_ranges(prefix):
                ranges |= Q(account__gte=low, account__lt=high)
            matching = rows.filter(ranges, account__istartswith="0x" + prefix)
        # Selected by key from a subquery: given the delta filter and a LIMIT, SQLite's planner
        # walks all of ``impact_delta`` for the order instead of reading the few matching rows.
        rows = AccountImpact.objects.filter(pk__in=matching.order_by().values("pk"))
    return rows.only("account", "before", "after", "delta").order_by("delta", "account")


def _prefix_ranges(prefix: str) -> list[tuple[str, str]]:
    """Index ranges covering every case of ``prefix``'s first letters: ``0x<variant> <= account < 0x<variant>z``.

    ``z`` sorts after every hex digit and letter, bytewise and in PostgreSQL's collations alike.
    """
    head, letters = "", 0
    for char in prefix:
        if char.isalpha():
            if letters == _CASE_EXPANDED_LETTERS:
                break
            letters += 1
        head += char
    choices = [(char, char.upper()) if char.isalpha() else (char,) for char in head]
    return [("0x" + "".join(variant), "0x" + "".join(variant) + "z") for variant in product(*choices)]


# The accounts table is read in SQL written here, not built by the ORM (table and column names come
# from the models' meta, every value is a parameter): on the benchmark's machine
# building one ORM query costs 1 to 2 ms of CPU, sending this text 0.05 ms, and the table's three
# reads (count, page, allocations) were most of a search's cost under load. The statements are the
# ones the ORM built (same filters, order and subquery), so the planners choose the same indexes;
# amounts go through the model fields' own conversions, so SQLite's encodings stay the fields' business.
_IMPACT, _ALLOCATION = AccountImpact._meta, Allocation._meta


def _column(meta: Any, name: str) -> str:
    return connection.ops.quote_name(meta.get_field(name).column)


def _losers_where(*, analysis_id: int, asset: str, prefix: str) -> tuple[str, list[Any]]:
    """The WHERE condition (columns unqualified) of ``list_affected_accounts``'s rows, and its parameters."""
    col = {name: _column(_IMPACT, name) for name in ("analysis", "asset", "kind", "delta", "account")}
    delta = _IMPACT.get_field("delta")
    where = f"{col['analysis']} = %s AND {col['asset']} = %s AND {col['kind']} = %s AND {col['delta']} < %s"
    params: list[Any] = [analysis_id, asset, ImpactKind.BALANCE, delta.get_db_prep_value(0, connection)]
    if len(prefix) == 40:
        where += f" AND {col['account']} = %s"
        params.append(to_checksum_address("0x" + prefix))
    elif prefix:
        ranges = _prefix_ranges(prefix)
        where += " AND (" + " OR ".join([f"({col['account']} >= %s AND {col['account']} < %s)"] * len(ranges)) + ")"
        params += [bound for pair in ranges for bound in pair]
        where += f" AND LOWER({col['account']}) LIKE %s"  # hex digits only: nothing to escape
        params.append(f"0x{prefix}%")
    return where, params


def accounts_page_sql(
    *,
    plan_asset_id: int,
    analysis_id: int,
    asset: str,
    prefix: str,
    offset: int,
    start: tuple[Any, Any] | None = None,
) -> tuple[str, list[Any]]:
    """One page of the table: account, before, after, delta, claim and amount, largest loss first.

    The page's ids are selected first (``ACCOUNTS_PER_PAGE`` of them from ``offset``), then read
    with their allocations (``one_allocation_per_account``). On PostgreSQL the ids come from an
    index-only scan of ``impact_delta_account``. ``start``, a page's first (delta, account) as the
    database stores them (``_page_starts``), turns a deep page into an index range: the rows from
    there, instead of ``offset`` skipped entries.
    """
    table, allocations = _IMPACT.db_table, _ALLOCATION.db_table
    delta, account = _column(_IMPACT, "delta"), _column(_IMPACT, "account")
    where, params = _losers_where(analysis_id=analysis_id, asset=asset, prefix=prefix)
    if start is not None:
        where += f" AND {delta} >= %s AND ({delta} > %s OR {account} >= %s)"
        params += [start[0], start[0], start[1]]
    if prefix:
        # The matching rows by key first: given the delta filter and a LIMIT, SQLite's planner would
        # walk all of ``impact_delta`` for the order instead of reading the few matching rows.
        where = f"id IN (SELECT id FROM {table} WHERE {where})"  # noqa: S608
    ids = f"SELECT id FROM {table} WHERE {where} ORDER BY {delta}, {account} LIMIT %s OFFSET %s"  # noqa: S608
    params += [ACCOUNTS_PER_PAGE, offset]
    before, after = _column(_IMPACT, "before"), _column(_IMPACT, "after")
    claim, amount = _column(_ALLOCATION, "claim"), _column(_ALLOCATION, "amount")
    plan_asset, allocated = _column(_ALLOCATION, "plan_asset"), _column(_ALLOCATION, "account")
    sql = (
        f"SELECT i.{account}, i.{before}, i.{after}, i.{delta}, al.{claim}, al.{amount} FROM {table} i "  # noqa: S608
        f"LEFT JOIN {allocations} al ON al.{plan_asset} = %s AND al.{allocated} = i.{account} "
        f"WHERE i.id IN ({ids}) ORDER BY i.{delta}, i.{account}"
    )
    return sql, [plan_asset_id, *params]


def _count_losers(*, analysis_id: int, asset: str, prefix: str) -> int:
    where, params = _losers_where(analysis_id=analysis_id, asset=asset, prefix=prefix)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {_IMPACT.db_table} WHERE {where}", params)  # noqa: S608
        return cursor.fetchone()[0]


@lru_cache(maxsize=32)
def _page_starts(analysis_key: str, analysis_id: int, asset: str, per_page: int) -> tuple[tuple[Any, Any], ...]:
    """The (delta, account) of each page's first row, as stored, of a completed analysis's losers of ``asset``.

    Read once per process and analysis (``analysis_key`` names its final rows: the memo can never
    be stale) by one index-only pass over ``impact_delta_account``: 0.2 to 0.4 s for 100,000
    losers on the benchmark's 2 busy cores (so seconds for a million, once, on a deep page's first
    visit to a worker), 2,000 page starts kept. A deep page is then a range of 50 index entries,
    not 45,000 skipped ones (12 ms of PostgreSQL for page 900 of 100,000 with ``OFFSET``, under
    0.1 ms of index reads this way).
    """
    where, params = _losers_where(analysis_id=analysis_id, asset=asset, prefix="")
    delta, account = _column(_IMPACT, "delta"), _column(_IMPACT, "account")
    sql = (
        f"SELECT {delta}, {account} FROM (SELECT {delta}, {account}, "  # noqa: S608
        f"ROW_NUMBER() OVER (ORDER BY {delta}, {account}) AS n FROM {_IMPACT.db_table} WHERE {where}) ranked "
        "WHERE (n - 1) %% %s = 0 ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, per_page])
        return tuple((row[0], row[1]) for row in cursor.fetchall())


def affected_accounts_page(
    *,
    plan_asset: PlanAsset,
    analysis_id: int,
    prefix: str,
    page: str | int | None,
    analysis_key: str | None = None,
) -> tuple[Page, list[AffectedAccount]]:
    """One page of ``list_affected_accounts`` with each account's claim and allocation in ``plan_asset``.

    Two statements: the count and the page with its allocations (``accounts_page_sql``). With
    ``analysis_key`` (a completed analysis), the unfiltered count is read once and then from the
    cache, the unfiltered first page likewise (none), and a deeper page starts from its first row
    (``_page_starts``) instead of skipping the rows before it.
    """
    asset = plan_asset.asset
    paginator = Paginator([], ACCOUNTS_PER_PAGE)  # the rows are read below, by page
    if analysis_key is not None and not prefix:
        key = f"{analysis_key}:losers:{asset}"
        count = _cached(key, lambda: _count_losers(analysis_id=analysis_id, asset=asset, prefix=""))
    else:
        count = _count_losers(analysis_id=analysis_id, asset=asset, prefix=prefix)
    paginator.count = count  # type: ignore[misc]  # a cached_property
    current = paginator.get_page(page)
    first = (current.number - 1) * ACCOUNTS_PER_PAGE
    read = {"plan_asset_id": plan_asset.pk, "analysis_id": analysis_id, "asset": asset, "prefix": prefix}
    if analysis_key is not None and not prefix:
        if current.number == 1:
            # The first page is what every visitor of the proposal page sees: a constant of the
            # analysis and the plan asset's allocations (a plan never changes once built).
            key = f"{analysis_key}:first-page:{plan_asset.pk}:{ACCOUNTS_PER_PAGE}"
            rows = _cached(key, lambda: _accounts_rows(**read, offset=0))
        else:
            starts = _page_starts(analysis_key, analysis_id, asset, ACCOUNTS_PER_PAGE)
            rows = _accounts_rows(**read, offset=0, start=starts[current.number - 1])
    else:
        rows = _accounts_rows(**read, offset=first)
    current.object_list = rows
    return current, rows


def _accounts_rows(**page: Any) -> list[AffectedAccount]:
    """The rows of ``accounts_page_sql(**page)``, amounts converted by the model fields."""
    sql, params = accounts_page_sql(**page)
    before, after, delta = (_IMPACT.get_field(name) for name in ("before", "after", "delta"))
    claim, amount = (_ALLOCATION.get_field(name) for name in ("claim", "amount"))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = []
    for account, low, high, change, claimed, allocated in found:
        rows.append(
            AffectedAccount(
                account=account,
                before=before.from_db_value(low, None, connection),
                after=after.from_db_value(high, None, connection),
                loss=-delta.from_db_value(change, None, connection),
                claim=None if claimed is None else claim.from_db_value(claimed, None, connection),
                allocation=None if allocated is None else amount.from_db_value(allocated, None, connection),
            )
        )
    return rows


# --- my account ---


def parse_address(text: str) -> str | None:
    """``text`` as an EIP-55 address when it is 0x and 40 hex digits, else None."""
    return to_checksum_address(text) if _ADDRESS.match(text) else None


def account_in_plan(*, plan_id: int, account: str) -> dict[str, Any] | None:
    """The account's before, after, delta, allocation and proof per plan asset (``account_position``)."""
    return account_position(plan_id=plan_id, account=account)


def positions_in_published_proposals(*, account: str) -> list[tuple[ProposalDocument, dict[str, Any]]]:
    """Every published document (on a governor or a Snapshot space) whose plan affects ``account``, newest first.

    One query for the documents, then ``account_position``'s few indexed reads per document.
    """
    published = Q(pk__in=Publication.objects.filter(status=PublicationStatus.CREATED).values("document_id")) | Q(
        pk__in=SnapshotProposal.objects.filter(status=SnapshotProposalStatus.CREATED).values("document_id")
    )
    documents = ProposalDocument.objects.filter(published).select_related("plan", "incident").order_by("-pk")
    found = []
    for document in documents:
        position = account_position(plan_id=document.plan_id, account=account)
        if position is not None:
            found.append((document, position))
    return found


# --- the account page: the published roots and the pull claim's state on chain ---


@dataclass(frozen=True, slots=True)
class PublishedAsset:
    """What the frozen document states about one plan asset: the root a holder checks a proof against."""

    asset: str
    allocation_root: str
    onchain_plan_id: int | None
    decimals: int | None
    payout_token: str
    payout_decimals: int | None


def published_assets(document: ProposalDocument) -> dict[str, PublishedAsset]:
    """Each asset's entry in the frozen document (its canonical bytes, the ones the content hash covers).

    A constant of the document's bytes: cached under its content hash, which names them.
    """
    key = f"{_CACHE_PREFIX}:document:{document.content_hash}:published"
    return _cached(key, lambda: _published_assets(document))


def _published_assets(document: ProposalDocument) -> dict[str, PublishedAsset]:
    body = json.loads(document.canonical_bytes)
    return {
        entry["asset"]: PublishedAsset(
            asset=entry["asset"],
            allocation_root=entry.get("allocation_root") or "",
            onchain_plan_id=None if entry.get("onchain_plan_id") is None else int(entry["onchain_plan_id"]),
            decimals=entry.get("decimals"),
            payout_token=entry.get("payout_token") or "",
            payout_decimals=entry.get("payout_decimals", entry.get("decimals")),
        )
        for entry in body.get("assets", [])
    }


@dataclass(frozen=True, slots=True)
class ClaimState:
    """Whether one allocation of a plan can be claimed now, read on chain.

    ``state``: ``claimable``, ``claimed``, ``push`` (the executor pays it), ``no_plan_id``,
    ``not_approved``, ``revoked``, ``closed``, ``superseded``, ``past_deadline``, ``paused`` or
    ``unavailable`` (the node did not answer); ``note`` says it in words.
    """

    state: str
    note: str
    delivery: str
    executor: str = ""
    plan_id: int | None = None
    chain_id: int | None = None
    claim_deadline: int | None = None
    symbol: str = ""  # the payout token's, when it answers symbol()


def claim_state(*, document: ProposalDocument, asset: str, leaf_index: int) -> ClaimState:
    """The pull claim of the allocation at ``leaf_index`` of ``asset`` in the document's plan, as the chain sees it.

    The RecoveryExecutor's ``claim`` refuses, in its order: a plan not approved (or superseded by a
    later version), a paused contract, a plan that is not pull, a claim after the deadline, an
    index already claimed. Anyone may send a claim; the tokens go to the allocation's account.
    """
    from recovery.execution import recovery_executor_of  # the execution module loads Celery tasks
    from recovery.execution_errors import PlanNotApprovedOnChain

    plan = document.plan
    delivery = plan.delivery
    if delivery != "pull":
        return ClaimState("push", "The executor pays this plan in batches: there is nothing to claim.", delivery)
    plan_asset = PlanAsset.objects.select_related("plan__incident").get(plan=plan, asset=asset)
    if plan_asset.onchain_plan_id is None:
        return ClaimState("no_plan_id", "This plan asset has no on-chain plan id yet: it cannot be claimed.", delivery)
    plan_id = int(plan_asset.onchain_plan_id)
    try:
        executor = recovery_executor_of(plan_asset)
    except PlanNotApprovedOnChain as error:
        return ClaimState("not_approved", error.message, delivery, plan_id=plan_id)
    base = {"delivery": delivery, "executor": executor, "plan_id": plan_id, "chain_id": plan.incident.chain_id}
    try:
        onchain = claim_status(
            connect(settings.CHAIN_RPC_URL, timeout=_PAGE_RPC_TIMEOUT), executor, plan_id, leaf_index
        )
    except ChainError as error:
        return ClaimState(
            "unavailable", f"The chain could not be read just now ({error}): reload the page later.", **base
        )
    return _claim_state_in_words(onchain, base)


def _claim_state_in_words(onchain: ClaimStatus, base: dict[str, Any]) -> ClaimState:
    """The first of ``claim``'s checks that ``onchain`` fails, in words; ``claimable`` when none does.

    A paid allocation says so first, and the lasting refusals (revoked, closed, superseded, past
    the deadline) come before a pause, which may be lifted.
    """
    base = {**base, "claim_deadline": onchain.claim_deadline, "symbol": onchain.symbol}
    deadline = onchain.claim_deadline
    if onchain.claimed:
        return ClaimState("claimed", "Already claimed: this allocation has been paid on chain.", **base)
    if onchain.status == PLAN_REVOKED:
        return ClaimState("revoked", "The plan was revoked on chain: it can no longer be claimed.", **base)
    if onchain.status == PLAN_CLOSED:
        return ClaimState("closed", "The plan is closed on chain: its claims have ended.", **base)
    if onchain.status != PLAN_APPROVED:
        return ClaimState(
            "not_approved", "Not approved on chain yet: the claim opens once the vote's result is executed.", **base
        )
    if onchain.version != onchain.current_version:
        return ClaimState(
            "superseded",
            f"A later version ({onchain.current_version}) of this plan replaced it on chain: claim there.",
            **base,
        )
    if onchain.delivery != PULL:
        return ClaimState("push", "The executor pays this plan in batches on chain: there is nothing to claim.", **base)
    if onchain.timestamp > deadline:
        return ClaimState(
            "past_deadline", f"The claim deadline passed ({_utc(deadline)}): it can no longer be claimed.", **base
        )
    if onchain.paused:
        return ClaimState("paused", "The RecoveryExecutor is paused: claims resume when it is unpaused.", **base)
    return ClaimState("claimable", f"Open for claims until {_utc(deadline)}.", **base)


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
