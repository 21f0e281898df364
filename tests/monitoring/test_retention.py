"""Observation retention: old rows go, but never a rule's latest ones nor a firing's evidence."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from monitoring import retention, tasks
from monitoring.models import Firing, Observation, Rule, RuleKind, WatchedDeployment

pytestmark = pytest.mark.django_db


def _rule(watched: WatchedDeployment, name: str, consecutive_needed: int = 1) -> Rule:
    return Rule.objects.create(
        watched=watched, name=name, kind=RuleKind.ORACLE_STALE, params={}, consecutive_needed=consecutive_needed
    )


def _observe(rule: Rule, *, days_ago: float, block: int, ok: bool = True) -> Observation:
    return Observation.objects.create(
        rule=rule,
        chain_id=31337,
        block_number=block,
        ok=ok,
        cause="" if ok else "stale",
        observed_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def watched() -> WatchedDeployment:
    return WatchedDeployment.objects.create(name="dev", chain_id=31337, rpc_url="http://127.0.0.1:1")


def test_old_observations_go_but_the_latest_per_rule_and_the_evidence_stay(watched: WatchedDeployment) -> None:
    busy, quiet = _rule(watched, "busy"), _rule(watched, "quiet")
    old = [_observe(busy, days_ago=40 - i, block=100 + i) for i in range(6)]  # 40 .. 35 days old
    cited = _observe(busy, days_ago=50, block=90, ok=False)
    recent = [_observe(busy, days_ago=1, block=200 + i) for i in range(3)]
    quiet_old = [_observe(quiet, days_ago=60 - i, block=10 + i) for i in range(3)]  # a rule nothing observed since
    Firing.objects.create(
        rule=busy,
        cause="stale",
        evidence=[{"observation": cited.pk, "block_number": 90}, {"block_number": 91}, "not a dict"],
    )

    deleted = retention.prune_observations(days=30, keep_latest=2)

    left = set(Observation.objects.values_list("pk", flat=True))
    assert left == {cited.pk, *(o.pk for o in recent), *(o.pk for o in quiet_old[-2:])}
    assert deleted == len(old) + 1
    assert retention.prune_observations(days=30, keep_latest=2) == 0  # nothing more to do


def test_a_rule_keeps_at_least_its_debounce_streak(watched: WatchedDeployment) -> None:
    rule = _rule(watched, "debounced", consecutive_needed=3)
    rows = [_observe(rule, days_ago=90 - i, block=i, ok=False) for i in range(5)]

    retention.prune_observations(days=30, keep_latest=0)

    assert set(Observation.objects.values_list("pk", flat=True)) == {o.pk for o in rows[-3:]}


def test_the_beat_task_uses_the_settings_and_the_schedule_names_it(
    watched: WatchedDeployment, settings: object
) -> None:
    rule = _rule(watched, "r")
    settings.MONITOR_OBSERVATION_RETENTION_DAYS = 10  # type: ignore[attr-defined]
    settings.MONITOR_OBSERVATION_KEEP_LATEST = 1  # type: ignore[attr-defined]
    _observe(rule, days_ago=20, block=1)
    young = _observe(rule, days_ago=5, block=2)
    newest = _observe(rule, days_ago=0, block=3)

    assert tasks.prune_observations.apply().get() == 1

    assert set(Observation.objects.values_list("pk", flat=True)) == {young.pk, newest.pk}


def test_the_beat_entry_and_the_defaults() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["prune-observations"]
    assert entry["task"] == "monitoring.tasks.prune_observations"
    assert tasks.prune_observations.name == entry["task"]


def test_negative_settings_are_refused(watched: WatchedDeployment) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        retention.prune_observations(days=-1)
