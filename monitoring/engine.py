"""Run one watched deployment's monitor: read the head, check the blocks since the last run, record
what was seen, fire and resolve, open incidents, and hand firings to the responses.

One run (``run_watched``):
1. takes the deployment's run lease (``acquire_lease``), so two workers never run the same
   deployment at once, on PostgreSQL (``select_for_update(skip_locked=True)``, then a
   conditional update) and on SQLite (the conditional update alone);
2. asks the node its chain id and head. A node that does not answer (or serves another chain) is
   the ``rpc_unreachable`` rule's failure; nothing else is judged, so a dead node never looks
   like a stalled chain;
3. checks that the last processed block is still on the chain (its stored hash). After a reorg
   it steps back to the newest block whose recorded hash (its observations') the chain still
   has, and re-checks from there. What was observed on the orphaned blocks stays, as evidence
   of what was seen (an exploit reorganised away was still attempted); the re-checked blocks add
   their own observations;
4. covers ``last_block + 1 .. head``, at most ``max_catch_up_blocks`` of them (the rest in the
   next run): per-block rules are read at each block, the supply rule at the last, the head
   rules (stall, reachability) once (see ``monitoring.rules``);
5. writes everything in one transaction: observations, each rule's debounce state, firings (one
   open firing per (rule, cause), a database constraint), incidents (one per cause while it is
   open), the pause log (the ``Paused``/``Unpaused`` events of the contracts and pause targets in
   these blocks, read with the run: ``monitoring.pausing.record_events``), and the progress.
   A node failure midway writes nothing but the unreachable
   observation, so a run is never half-recorded. After the commit, each firing that opened or
   fired again goes to ``monitoring.responses.respond``.

Debounce: a rule fires when ``consecutive_needed`` failing observations come in a row; a healthy
observation resets the count and resolves the rule's open firings ("healthy again at block N").
A firing opens when the streak reaches the threshold, or when the cause changes within a streak;
a streak that goes on updates the open firing, and a firing a person resolved while the rule
still fails stays resolved until the rule has been healthy once.

Stored observations: every failing one; a healthy one when the rule's state changes, and the
last of each run that covered new blocks (a healthy block between two others says nothing new;
keeping one per rule per run bounds the table at one row a run, not one a block).
"""

import importlib.util
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chain.blocks import BlockMissing
from chain.errors import ChainError, RpcUnavailable
from chain.logs import RawRpc
from chain.redaction import redact
from chain.watch import BlockHeader, block_headers
from monitoring import pausing
from monitoring.exceptions import InvalidRuleParams, WatchedNotFound
from monitoring.models import (
    Firing,
    FiringStatus,
    Observation,
    ResponseKind,
    Rule,
    RuleKind,
    RuleState,
    WatchedDeployment,
)
from monitoring.rules import (
    METRICS,
    PER_BLOCK,
    RANGE_END,
    WHEN,
    Context,
    Outcome,
    check_reachable,
    check_stall,
    observe,
    validate_params,
    watched_addresses,
)
from recovery.impact import open_incident
from recovery.models import Incident, IncidentStatus

log = logging.getLogger(__name__)

EVALUATION_ERROR = "evaluation_error"  # the cause of an observation whose rule could not be evaluated
REORG_LOOKBACK = 128  # blocks searched back for a recorded block the chain still has
EVIDENCE_KEPT = 20  # observations kept in a firing's evidence: the first of the streak and the latest
OPEN_INCIDENT = (IncidentStatus.OPEN, IncidentStatus.ANALYSING, IncidentStatus.PLANNING)
RESPONDING = (ResponseKind.NOTIFY, ResponseKind.INCIDENT, ResponseKind.PAUSE)
OPENS_INCIDENT = (ResponseKind.INCIDENT, ResponseKind.PAUSE)


@dataclass(slots=True)
class RunResult:
    """What one run did, for the command's output, the task's result and tests."""

    watched: str
    head: int | None = None
    from_block: int | None = None
    to_block: int | None = None
    behind: int = 0  # blocks left for the next run (catch-up bound)
    reorg_from: int | None = None
    observations: int = 0
    opened: list[int] = field(default_factory=list)  # firings opened
    refired: list[int] = field(default_factory=list)  # open firings that fired again
    resolved: list[int] = field(default_factory=list)
    error: str = ""


# --- the lease ---


def acquire_lease(watched_id: int, *, owner: str, seconds: int | None = None) -> bool:
    """Take the deployment's run lease for ``owner``; False when another holds it (or it is gone).

    The lease expires by itself, so a worker that died mid-run holds it back at most ``seconds``.
    """
    now = timezone.now()
    until = now + timedelta(seconds=seconds or settings.MONITOR_LEASE_SECONDS)
    with transaction.atomic():
        # PostgreSQL: a row another transaction is leasing right now is skipped, not waited for.
        # SQLite has no row locks (Django ignores select_for_update there): the conditional
        # update below is what excludes a second process, on both.
        row = WatchedDeployment.objects.select_for_update(skip_locked=True).filter(pk=watched_id).first()
        if row is None:
            return False
        free = Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(lease_owner=owner)
        taken = WatchedDeployment.objects.filter(free, pk=watched_id).update(lease_owner=owner, lease_until=until)
    return taken == 1


def release_lease(watched_id: int, *, owner: str) -> None:
    WatchedDeployment.objects.filter(pk=watched_id, lease_owner=owner).update(lease_owner="", lease_until=None)


# --- runs ---


def due_watched_ids(*, now: datetime | None = None) -> list[int]:
    """Enabled deployments whose ``interval_seconds`` has passed since their last run."""
    now = now or timezone.now()
    rows = WatchedDeployment.objects.filter(enabled=True).values_list("pk", "last_run_at", "interval_seconds")
    return [
        pk
        for pk, last_run_at, interval in rows
        if last_run_at is None or last_run_at + timedelta(seconds=interval) <= now
    ]


def run_due(*, now: datetime | None = None) -> list[RunResult]:
    """Run every due deployment once; a deployment whose run raises is recorded and the others go on."""
    results = []
    for watched_id in due_watched_ids(now=now):
        try:
            result = run_watched(watched_id, now=now)
        except Exception as error:  # one monitor's bug must not stop the others: recorded, logged
            log.exception("the monitor of watched deployment %s failed", watched_id)
            _record_run_error(watched_id, f"{type(error).__name__}: {error}")
            continue
        if result is not None:
            results.append(result)
    return results


def run_watched(watched_id: int, *, now: datetime | None = None) -> RunResult | None:
    """One run of ``watched_id``'s monitor (see the module's docstring).

    Returns ``None`` when another process holds the deployment's lease (it is running it now).
    ``now`` stands for the wall clock (tests pass it to judge a stall without waiting).
    """
    if not WatchedDeployment.objects.filter(pk=watched_id).exists():
        raise WatchedNotFound(f"there is no watched deployment {watched_id}", watched=watched_id)
    owner = uuid.uuid4().hex
    if not acquire_lease(watched_id, owner=owner):
        return None
    try:
        return _run(WatchedDeployment.objects.get(pk=watched_id), now=now or timezone.now())
    finally:
        release_lease(watched_id, owner=owner)


def _run(watched: WatchedDeployment, *, now: datetime) -> RunResult:
    rules = list(watched.rules.filter(enabled=True).order_by("pk"))
    result = RunResult(watched=watched.name)
    rpc = RawRpc(
        watched.rpc_url,
        timeout=settings.MONITOR_RPC_TIMEOUT_SECONDS,
        retries=settings.MONITOR_RPC_RETRIES,
        backoff=0.2,
    )
    try:
        try:
            chain_id, head = _identify(rpc)
        except ChainError as error:
            return _record_unreachable(watched, rules, result, _clean(str(error), watched), now=now)
        if chain_id != watched.chain_id:
            message = f"the node serves chain {chain_id}, not {watched.chain_id}: check the deployment's RPC URL"
            return _record_unreachable(watched, rules, result, message, now=now, cause="wrong_chain")
        try:
            outcomes, headers, errors = _evaluate(
                watched, rules, rpc, chain_id=chain_id, head=head, now=now, result=result
            )
            pauses = _pause_events(watched, result)
        except RpcUnavailable as error:
            # The node went away midway: nothing of this run is recorded but that.
            return _record_unreachable(watched, rules, result, _clean(str(error), watched), now=now)
    finally:
        rpc.close()
    _record(watched, rules, outcomes, headers, errors, result, head=head, now=now, pauses=pauses)
    return result


def _pause_events(watched: WatchedDeployment, result: RunResult) -> list[Any]:
    """The pauses and unpauses of the deployment's contracts and pause targets in this run's blocks,
    recorded with the run (``monitoring.pausing``): one sent outside Lifeboat is logged with its
    sender, one Lifeboat sent completes its own record. Read before anything is written, so a
    node failure here records nothing of the run and the next run covers the blocks again."""
    if result.from_block is None or result.to_block is None:
        return []
    return pausing.pause_events_of(watched, from_block=result.from_block, to_block=result.to_block)


def _identify(rpc: RawRpc) -> tuple[int, int]:
    chain_reply, head_reply = rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    try:
        return int(chain_reply["result"], 16), int(head_reply["result"], 16)
    except (KeyError, TypeError, ValueError):
        raise RpcUnavailable(
            f"the node answered eth_chainId/eth_blockNumber with {str(chain_reply)[:80]} / {str(head_reply)[:80]}"
        ) from None


def _evaluate(
    watched: WatchedDeployment,
    rules: Sequence[Rule],
    rpc: RawRpc,
    *,
    chain_id: int,
    head: int,
    now: datetime,
    result: RunResult,
) -> tuple[dict[int, list[Outcome]], dict[int, BlockHeader], list[str]]:
    """Every enabled rule's outcomes for this run's blocks, and the headers of those blocks."""
    start, result.reorg_from = _first_block(watched, rpc, head)
    end = min(head, start + watched.max_catch_up_blocks - 1)
    blocks = list(range(start, end + 1))
    headers = block_headers(rpc, blocks) if blocks else {}
    result.head, result.behind = head, max(head - end, 0)
    if blocks:
        result.from_block, result.to_block = start, end
    head_changed_at = (
        now if (watched.head_block != head or watched.head_changed_at is None) else watched.head_changed_at
    )
    if watched.watching_since is None and blocks:
        watched.watching_since = start  # stored with the run's progress (_record)
    ctx = Context(rpc=rpc, chain_id=chain_id, headers=headers, since=watched.watching_since)
    outcomes: dict[int, list[Outcome]] = {}
    errors: list[str] = []
    for rule in rules:
        when = WHEN[rule.kind]
        try:
            params = validate_params(rule.kind, rule.params)
            if when == PER_BLOCK and blocks:
                outcomes[rule.pk] = observe(rule.kind, params, ctx, blocks)
            elif when == RANGE_END and blocks:
                outcomes[rule.pk] = observe(rule.kind, params, ctx, [end])
            elif rule.kind == RuleKind.BLOCK_STALL:
                outcomes[rule.pk] = [check_stall(head, head_changed_at, now, **params)]
            elif rule.kind == RuleKind.RPC_UNREACHABLE:
                outcomes[rule.pk] = [check_reachable(head)]
        except RpcUnavailable:
            raise
        except InvalidRuleParams as error:
            outcomes[rule.pk] = [_error_outcome(end, f"the rule's parameters are invalid: {error.message}")]
            errors.append(f"{rule.name}: {error.message}")
        except Exception as error:  # a rule that raises is recorded; the other rules go on
            log.exception("rule %s of %s could not be evaluated", rule.name, watched.name)
            text = _clean(f"{type(error).__name__}: {error}", watched)
            outcomes[rule.pk] = [_error_outcome(end if blocks else head, text)]
            errors.append(f"{rule.name}: {text}")
    return outcomes, headers, errors


def _error_outcome(block: int, text: str) -> Outcome:
    return Outcome(block=block, ok=False, cause=EVALUATION_ERROR, message=text[:2000], values={"error": text[:500]})


def _first_block(watched: WatchedDeployment, rpc: RawRpc, head: int) -> tuple[int, int | None]:
    """The first block this run checks, and where a reorg sent it back to (None without one)."""
    last = watched.last_block
    if last is None:
        return head, None  # a new monitor starts at the head, not at genesis
    if last <= head:
        try:
            if block_headers(rpc, [last])[last].hash == watched.last_block_hash.lower():
                return last + 1, None
        except BlockMissing:
            pass
    # The block we stopped at is gone (a reorg, or a chain that went back): find the newest block
    # we recorded that the chain still has, and check again from the block after it.
    recorded = (
        Observation.objects.filter(rule__watched=watched, block_number__lt=min(last, head + 1))
        .filter(block_number__gte=max(min(last, head) - REORG_LOOKBACK, 0))
        .exclude(block_hash="")
        .order_by("-block_number")
        .values_list("block_number", "block_hash")
        .distinct()[:REORG_LOOKBACK]
    )
    pairs = list(dict.fromkeys(recorded))
    if pairs:
        try:
            current = block_headers(rpc, [number for number, _ in pairs])
        except BlockMissing:
            current = {}
        for number, block_hash in pairs:
            if number in current and current[number].hash == block_hash.lower():
                log.warning("%s: reorg below block %s; checking again from block %s", watched.name, last, number + 1)
                return number + 1, number + 1
    restart = max(min(last, head) - REORG_LOOKBACK, 0)
    log.warning("%s: reorg below block %s, no recorded block left; checking again from %s", watched.name, last, restart)
    return restart, restart


# --- recording ---


def _record_unreachable(
    watched: WatchedDeployment,
    rules: Sequence[Rule],
    result: RunResult,
    message: str,
    *,
    now: datetime,
    cause: str = "unreachable",
) -> RunResult:
    """The node did not answer: only the reachability rules are judged (never a stall)."""
    result.error = message
    outcome = check_reachable(None, message)
    if cause != outcome.cause:
        outcome = Outcome(block=None, ok=False, cause=cause, message=message, values=outcome.values)
    outcomes = {rule.pk: [outcome] for rule in rules if rule.kind == RuleKind.RPC_UNREACHABLE}
    with transaction.atomic():
        pending = [
            _apply(watched, rule, outcomes[rule.pk], {}, result, now=now) for rule in rules if rule.pk in outcomes
        ]
        WatchedDeployment.objects.filter(pk=watched.pk).update(last_run_at=now, last_error=message[:2000])
        _respond_on_commit(pending)
    return result


def _record(
    watched: WatchedDeployment,
    rules: Sequence[Rule],
    outcomes: dict[int, list[Outcome]],
    headers: dict[int, BlockHeader],
    errors: list[str],
    result: RunResult,
    *,
    head: int,
    now: datetime,
    pauses: Sequence[Any] = (),
) -> None:
    progress: dict[str, Any] = {
        "head_block": head,
        "last_run_at": now,
        "last_error": _clean("; ".join(errors), watched)[:2000],
    }
    if watched.head_block != head or watched.head_changed_at is None:
        progress["head_changed_at"] = now
    if result.to_block is not None:
        progress["last_block"], progress["last_block_hash"] = result.to_block, headers[result.to_block].hash
        progress["watching_since"] = watched.watching_since
    with transaction.atomic():
        pending = []
        for rule in rules:
            if rule.pk in outcomes:
                pending.append(_apply(watched, rule, outcomes[rule.pk], headers, result, now=now))
        if pauses:
            pausing.record_events(chain_id=watched.chain_id, events=pauses)
        WatchedDeployment.objects.filter(pk=watched.pk).update(**progress)
        _respond_on_commit(pending)


def _apply(
    watched: WatchedDeployment,
    rule: Rule,
    outcomes: Sequence[Outcome],
    headers: dict[int, BlockHeader],
    result: RunResult,
    *,
    now: datetime,
) -> list[tuple[int, bool]]:
    """Fold one rule's outcomes, in block order, into its state, observations and firings.

    Returns the ``(firing id, newly opened)`` pairs to respond to after the commit. The caller
    holds the transaction.
    """
    source = node_host(watched.rpc_url)
    to_respond: list[tuple[int, bool]] = []
    checked_open = False  # open firings are looked for once a run while healthy, then after each failure
    for index, outcome in enumerate(outcomes):
        last = index == len(outcomes) - 1
        if outcome.cause == EVALUATION_ERROR:
            _store(watched, rule, outcome, headers, source, now)
            result.observations += 1
            continue
        if outcome.ok:
            changed = rule.state != RuleState.OK
            rule.state, rule.consecutive_failures, rule.last_cause, rule.last_ok_at = RuleState.OK, 0, "", now
            # Head rules with nothing new (the same head as before) are not worth a row each run.
            if changed or (last and (result.to_block is not None or outcome.block is None)):
                _store(watched, rule, outcome, headers, source, now)
                result.observations += 1
            if checked_open and not changed:
                continue
            checked_open = True
            resolved = list(Firing.objects.filter(rule=rule, status=FiringStatus.OPEN).values_list("pk", flat=True))
            if resolved:
                where = f"at block {outcome.block}" if outcome.block is not None else "now"
                Firing.objects.filter(pk__in=resolved).update(
                    status=FiringStatus.RESOLVED, resolved_at=now, resolution=f"healthy again {where}"
                )
                result.resolved.extend(resolved)
            continue
        observation = _store(watched, rule, outcome, headers, source, now)
        result.observations += 1
        checked_open = False
        rule.consecutive_failures += 1
        streak_changed_cause = outcome.cause != rule.last_cause
        rule.last_cause = outcome.cause
        if rule.consecutive_failures < rule.consecutive_needed:
            rule.state = RuleState.FAILING
            continue
        rule.state = RuleState.FIRING
        fires = rule.consecutive_failures == rule.consecutive_needed or streak_changed_cause
        fired = _fire(watched, rule, outcome, observation, fires=fires, now=now)
        if fired is not None:
            firing_id, newly_opened = fired
            (result.opened if newly_opened else result.refired).append(firing_id)
            if rule.response in RESPONDING:
                to_respond.append(fired)
    if outcomes:
        rule.last_observed_at = now
    if not rule.metric:
        rule.metric = METRICS.get(rule.kind, "")
    rule.save(
        update_fields=[
            "state",
            "consecutive_failures",
            "last_cause",
            "last_observed_at",
            "last_ok_at",
            "metric",
        ]
    )
    return to_respond


def _store(
    watched: WatchedDeployment,
    rule: Rule,
    outcome: Outcome,
    headers: dict[int, BlockHeader],
    source: str,
    now: datetime,
) -> Observation:
    header = headers.get(outcome.block) if outcome.block is not None else None
    return Observation.objects.create(
        rule=rule,
        chain_id=watched.chain_id,
        block_number=outcome.block,
        block_hash=header.hash if header is not None else "",
        ok=outcome.ok,
        cause=outcome.cause,
        message=_clean(outcome.message, watched),
        value="" if outcome.value is None else str(outcome.value),
        values=outcome.values,
        source=source,
        observed_at=now,
    )


def _evidence(observation: Observation) -> dict[str, Any]:
    return {
        "observation": observation.pk,
        "block_number": observation.block_number,
        "block_hash": observation.block_hash,
        "cause": observation.cause,
        "message": observation.message,
        "value": observation.value,
        "values": observation.values,
        "source": observation.source,
        "observed_at": observation.observed_at.isoformat(),
    }


def _fire(
    watched: WatchedDeployment, rule: Rule, outcome: Outcome, observation: Observation, *, fires: bool, now: datetime
) -> tuple[int, bool] | None:
    """Open a firing for the outcome's cause, fire its open one again, or add to it.

    Returns ``(firing id, newly opened)`` when it opened or fired again, ``None`` when the
    observation only joined an open firing's evidence (or no firing, when a person resolved the
    cause's firing while the streak went on).
    """
    streak = list(
        Observation.objects.filter(rule=rule, ok=False)
        .exclude(cause=EVALUATION_ERROR)
        .order_by("-observed_at", "-block_number", "-pk")[: rule.consecutive_needed]
    )
    evidence = [_evidence(o) for o in reversed(streak)]
    first_block = min((o.block_number for o in streak if o.block_number is not None), default=outcome.block)
    firing = Firing.objects.filter(rule=rule, cause=outcome.cause, status=FiringStatus.OPEN).first()
    if firing is not None:
        firing.last_block = outcome.block if outcome.block is not None else firing.last_block
        firing.message = observation.message
        kept = [*firing.evidence, _evidence(observation)]
        firing.evidence = kept[: rule.consecutive_needed] + kept[rule.consecutive_needed :][-EVIDENCE_KEPT:]
        update = ["last_block", "message", "evidence"]
        if fires:
            firing.times_fired += 1
            firing.last_fired_at = now
            update += ["times_fired", "last_fired_at"]
        firing.save(update_fields=update)
        return (firing.pk, False) if fires else None
    if not fires:
        return None
    try:
        with transaction.atomic():  # a savepoint: losing the race to another run leaves ours intact
            firing = Firing.objects.create(
                rule=rule,
                cause=outcome.cause,
                message=observation.message,
                first_block=first_block,
                last_block=outcome.block,
                evidence=evidence,
                last_fired_at=now,
            )
    except IntegrityError:
        # Another run opened it in between (the one-open-firing-per-cause constraint): join it.
        firing = Firing.objects.get(rule=rule, cause=outcome.cause, status=FiringStatus.OPEN)
        return None
    if rule.response in OPENS_INCIDENT:
        firing.incident = _incident_for(watched, rule, firing)
        firing.save(update_fields=["incident"])
    return firing.pk, True


def _incident_for(watched: WatchedDeployment, rule: Rule, firing: Firing) -> Incident:
    """The incident of the latest firing of the same rule and cause while it is still open, else a new one."""
    earlier = (
        Firing.objects.filter(rule=rule, cause=firing.cause, incident__status__in=OPEN_INCIDENT)
        .exclude(pk=firing.pk)
        .select_related("incident")
        .order_by("-opened_at", "-pk")
        .first()
    )
    if earlier is not None and earlier.incident is not None:
        return earlier.incident
    try:
        contracts, tokens = watched_addresses(rule.kind, validate_params(rule.kind, rule.params))
    except InvalidRuleParams:
        contracts, tokens = [], []
    lines = [
        f"Opened by the monitor of {watched.name} (chain {watched.chain_id}): rule {rule.name} ({rule.kind}, "
        f"{rule.severity}) fired after {rule.consecutive_needed} failing observation(s) in a row.",
        "",
        firing.message,
        "",
        "Evidence:",
    ]
    for item in firing.evidence:
        lines.append(
            f"- block {item['block_number']} ({item['block_hash'] or 'no block'}) from {item['source']}: "
            f"{item['message']}"
        )
    return open_incident(
        title=f"{rule.name}: {firing.message}"[:200],
        kind=rule.incident_kind,
        chain_id=watched.chain_id,
        affected_contracts=contracts,
        affected_tokens=tokens,
        detected_block=firing.first_block,
        description="\n".join(lines),
        opened_via=f"monitor:{watched.name}/{rule.name}"[:64],
    )


def _respond_on_commit(pending: Sequence[Sequence[tuple[int, bool]]]) -> None:
    for items in pending:
        for firing_id, newly_opened in items:
            transaction.on_commit(lambda f=firing_id, n=newly_opened: respond(f, newly_opened=n))


def respond(firing_id: int, *, newly_opened: bool) -> None:
    """Hand a firing to ``monitoring.responses.respond`` (pause, webhook, email), if that module exists.

    Called after the commit; a response that raises is logged and the monitor goes on (the
    responses record their own failures and retry).
    """
    if importlib.util.find_spec("monitoring.responses") is None:
        log.info("monitoring.responses does not exist yet: firing %s gets no response", firing_id)
        return
    from monitoring import responses

    try:
        responses.respond(firing_id, newly_opened=newly_opened)
    except Exception:
        log.exception("the response to firing %s failed", firing_id)


def _record_run_error(watched_id: int, text: str) -> None:
    watched = WatchedDeployment.objects.filter(pk=watched_id).first()
    if watched is not None:
        WatchedDeployment.objects.filter(pk=watched_id).update(
            last_error=_clean(text, watched)[:2000], last_run_at=timezone.now()
        )


def node_host(url: str) -> str:
    """The node's host and port: what an observation names as its source (never a path, user or key)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "unknown host"
    if not host:
        return "unknown host"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def _clean(text: str, watched: WatchedDeployment) -> str:
    return redact(text, secrets=[watched.rpc_url, *settings.LIFEBOAT_SECRETS])
