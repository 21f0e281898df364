"""Reads of the monitors' state for the monitoring pages and API: watched deployments, rules with
their latest observations, firings with their responses, and the pause log.

Everything a reader may see comes through here, and nothing here returns the RPC URL: a watched
deployment's node is named by ``monitoring.engine.node_host`` (host and port; no credentials, path or query, which
is where providers put API keys). Free text written by the monitor (messages, stored errors) is
passed through ``chain.redaction.redact`` with the deployment's URL as a known secret, so a
message that quoted the URL by mistake still shows only its host.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from chain.redaction import redact
from monitoring.engine import node_host
from monitoring.exceptions import FiringNotFound, RuleNotFound
from monitoring.models import (
    Firing,
    FiringStatus,
    Observation,
    PauseRecord,
    ResponseAction,
    Rule,
    WatchedDeployment,
)

CHART_POINTS = 40  # observations in the overview's small charts
RULE_CHART_POINTS = 200  # in a rule page's larger chart


@dataclass(frozen=True, slots=True)
class RuleOverview:
    rule: Rule
    last: Observation | None
    recent: list[Observation]  # newest first, at most ``chart_points``
    open_firings: list[Firing]


@dataclass(frozen=True, slots=True)
class WatchedOverview:
    watched: WatchedDeployment
    rpc_host: str
    rules: list[RuleOverview]


def clean_text(text: str, *, watched: WatchedDeployment | None = None) -> str:
    """``text`` safe to show: every URL reduced to its host, known secrets masked."""
    secrets: list[str] = list(settings.LIFEBOAT_SECRETS)
    if watched is not None:
        secrets.append(watched.rpc_url)
    return redact(text, secrets=secrets)


def clean_json(value: Any, *, watched: WatchedDeployment | None = None) -> Any:
    """``clean_text`` applied to every string inside a JSON value (evidence, action details)."""
    if isinstance(value, str):
        return clean_text(value, watched=watched)
    if isinstance(value, dict):
        return {str(k): clean_json(v, watched=watched) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, watched=watched) for v in value]
    return value


# --- the overview ---


def list_watched() -> list[WatchedDeployment]:
    """Every watched deployment with its rules (in their order), two queries."""
    rules = Rule.objects.order_by("pk")
    return list(WatchedDeployment.objects.prefetch_related(Prefetch("rules", queryset=rules)))


def recent_observations(*, rule_ids: Iterable[int], limit: int) -> dict[int, list[Observation]]:
    """The ``limit`` latest observations of each rule, newest first, in one query (a window)."""
    ids = list(rule_ids)
    found: dict[int, list[Observation]] = {pk: [] for pk in ids}
    if not ids:
        return found
    ranked = (
        Observation.objects.filter(rule_id__in=ids)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("rule_id")], order_by=[F("observed_at").desc(), F("pk").desc()])
        )
        .filter(rank__lte=limit)
        .order_by("rule_id", "rank")
    )
    for observation in ranked:
        found[observation.rule_id].append(observation)
    return found


def list_firings(*, status: str | None = None, rule_id: int | None = None) -> QuerySet[Firing]:
    """Firings newest first, with their rule, deployment and incident loaded."""
    rows = Firing.objects.select_related("rule__watched", "incident", "resolved_by")
    if status is not None:
        rows = rows.filter(status=status)
    if rule_id is not None:
        rows = rows.filter(rule_id=rule_id)
    return rows.order_by("-opened_at", "-pk")


def monitoring_overview(*, chart_points: int = CHART_POINTS) -> list[WatchedOverview]:
    """Each watched deployment, each of its rules with its latest observations and open firings.

    Four queries whatever the number of rules.
    """
    watched = list_watched()
    rule_ids = [rule.pk for w in watched for rule in w.rules.all()]
    recent = recent_observations(rule_ids=rule_ids, limit=chart_points)
    firings: dict[int, list[Firing]] = {}
    for firing in list_firings(status=FiringStatus.OPEN):
        firings.setdefault(firing.rule_id, []).append(firing)
    return [
        WatchedOverview(
            watched=w,
            rpc_host=node_host(w.rpc_url),
            rules=[
                RuleOverview(
                    rule=rule,
                    last=(recent[rule.pk] or [None])[0],
                    recent=recent[rule.pk],
                    open_firings=firings.get(rule.pk, []),
                )
                for rule in w.rules.all()
            ],
        )
        for w in watched
    ]


# --- one rule, one firing ---


def get_rule(rule_id: int) -> Rule:
    rule = Rule.objects.select_related("watched").filter(pk=rule_id).first()
    if rule is None:
        raise RuleNotFound(f"there is no monitoring rule {rule_id}", rule=rule_id)
    return rule


def list_observations(*, rule_id: int) -> QuerySet[Observation]:
    """A rule's observations, newest first (the index ``observation_rule_recent`` serves it)."""
    return Observation.objects.filter(rule_id=rule_id).order_by("-observed_at", "-pk")


def get_firing(firing_id: int) -> Firing:
    """One firing with its rule, deployment, incident, response actions and pause records."""
    firing = (
        Firing.objects.select_related("rule__watched", "incident", "resolved_by")
        .prefetch_related(
            Prefetch("actions", queryset=ResponseAction.objects.order_by("created_at", "pk")),
            Prefetch("pauses", queryset=PauseRecord.objects.select_related("by_user").order_by("recorded_at", "pk")),
        )
        .filter(pk=firing_id)
        .first()
    )
    if firing is None:
        raise FiringNotFound(f"there is no monitoring firing {firing_id}", firing=firing_id)
    return firing


def list_pause_records() -> QuerySet[PauseRecord]:
    """Every pause and unpause of a watched contract, newest first, with who did it."""
    return PauseRecord.objects.select_related("by_user", "firing__rule").order_by("-recorded_at", "-pk")


def watched_for_contract(*, contract: str) -> WatchedDeployment | None:
    """The watched deployment that lists ``contract`` (checksummed) among its contracts or a rule's
    pause targets, or ``None``."""
    lowered = contract.lower()
    for watched in list_watched():
        addresses = [str(a) for a in (watched.contracts or {}).values()]
        addresses += [str(a) for rule in watched.rules.all() for a in (rule.pause_targets or [])]
        if lowered in (a.lower() for a in addresses):
            return watched
    return None


def watched_contracts() -> list[tuple[WatchedDeployment, str, str]]:
    """Every (deployment, role, address) watched, for the unpause form's choices."""
    rows = []
    for watched in list_watched():
        for role, address in sorted((watched.contracts or {}).items()):
            rows.append((watched, str(role), str(address)))
    return rows
