"""What a person changes in the monitors, from the API and the pages alike: resolve a firing with
a note, change a rule's thresholds, severity, response, debounce or enabled flag, and unpause a
watched contract (through ``monitoring.pausing``, which sends and records it).

The role check is the caller's (``CanManageMonitors`` on the API, the page's decorator); these
functions validate the input and own their transaction.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from monitoring.exceptions import FiringNotFound, FiringNotOpen, RuleNotFound
from monitoring.models import Firing, FiringStatus, ResponseKind, Rule, Severity
from recovery.exceptions import InvalidInput
from recovery.validation import parse_addresses

NOTE_MAX = 2000
DEBOUNCE_MAX = 1000
RULE_FIELDS = ("params", "severity", "response", "pause_targets", "consecutive_needed", "enabled")


@transaction.atomic
def resolve_firing(*, firing_id: int, resolved_by: AbstractBaseUser, note: str) -> Firing:
    """Close an open firing by hand, with the person's note saying why.

    The monitor opens a new firing if the cause is still there at its next failing observation
    past the debounce; the incident the firing opened stays as it is (the committee closes it).
    """
    firing = Firing.objects.select_for_update().filter(pk=firing_id).first()
    if firing is None:
        raise FiringNotFound(f"there is no monitoring firing {firing_id}", firing=firing_id)
    note = note.strip()
    if not note:
        raise InvalidInput("note is empty: say why the firing is resolved (what was checked or done)", field="note")
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"note: at most {NOTE_MAX} characters (this one has {len(note)})", field="note")
    if firing.status != FiringStatus.OPEN:
        raise FiringNotOpen(
            f"firing {firing_id} was resolved already"
            + (f" at {firing.resolved_at:%Y-%m-%d %H:%M:%S %Z}" if firing.resolved_at else ""),
            firing=firing_id,
            status=firing.status,
        )
    firing.status = FiringStatus.RESOLVED
    firing.resolved_at = timezone.now()
    firing.resolved_by = resolved_by
    firing.resolution = note
    firing.save(update_fields=["status", "resolved_at", "resolved_by", "resolution"])
    return firing


@transaction.atomic
def update_rule(*, rule_id: int, changes: dict[str, Any]) -> Rule:
    """Change a rule's ``params`` (merged into the current ones: send only the thresholds that
    change; ``null`` removes one), ``severity``, ``response``, ``pause_targets``,
    ``consecutive_needed`` or ``enabled``.

    The merged params are checked by the rule kind's own validation (``monitoring.rules``), so
    the monitor never runs a rule it cannot evaluate; nothing is saved when any value is wrong.
    """
    rule = Rule.objects.select_for_update().select_related("watched").filter(pk=rule_id).first()
    if rule is None:
        raise RuleNotFound(f"there is no monitoring rule {rule_id}", rule=rule_id)
    unknown = sorted(set(changes) - set(RULE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"{unknown[0]}: not a field a rule update may change (use {', '.join(RULE_FIELDS)})", field=unknown[0]
        )
    if not changes:
        raise InvalidInput(f"nothing to change: send one of {', '.join(RULE_FIELDS)}", field="non_field_errors")
    fields: list[str] = []
    if "params" in changes:
        params = changes["params"]
        if not isinstance(params, dict):
            raise InvalidInput(
                'params: an object of the rule\'s thresholds, e.g. {"grace_seconds": 120}', field="params"
            )
        merged = {**(rule.params or {}), **params}
        merged = {key: value for key, value in merged.items() if value is not None}
        rule.params = validate_rule_params(kind=rule.kind, params=merged)
        fields.append("params")
    if "severity" in changes:
        rule.severity = _choice(changes["severity"], Severity.values, field="severity")
        fields.append("severity")
    if "response" in changes:
        rule.response = _choice(changes["response"], ResponseKind.values, field="response")
        fields.append("response")
    if "pause_targets" in changes:
        rule.pause_targets = list(parse_addresses(changes["pause_targets"], field="pause_targets"))
        fields.append("pause_targets")
    if "consecutive_needed" in changes:
        rule.consecutive_needed = _debounce(changes["consecutive_needed"])
        fields.append("consecutive_needed")
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise InvalidInput("enabled: true or false", field="enabled")
        rule.enabled = changes["enabled"]
        fields.append("enabled")
    if rule.response == ResponseKind.PAUSE and not rule.pause_targets:
        raise InvalidInput(
            "pause_targets is empty: a rule whose response is pause needs the contracts to pause "
            "(e.g. the vault's address)",
            field="pause_targets",
        )
    rule.save(update_fields=fields)
    return rule


def validate_rule_params(*, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The kind's params, checked and normalised by the engine's own validation
    (``monitoring.rules.validate_params``): ``InvalidRuleParams`` (400) names the wrong threshold."""
    from monitoring import rules  # the engine's module: imported here, it loads the chain readers

    return rules.validate_params(kind, params)


def unpause_contract(*, contract: str, user: AbstractBaseUser, note: str = "") -> Any:
    """Unpause a watched contract with the guardian key, recorded with ``user`` as who did it
    (``monitoring.pausing.unpause``: it checks the role itself, and reads ``paused()`` first:
    ``ContractNotPaused`` (409) when there is nothing to unpause, nothing sent)."""
    from monitoring import pausing  # sends transactions: imported where used

    return pausing.unpause(contract=contract, user=user, note=note)


def _choice(value: Any, allowed: list[str], *, field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(allowed)}", field=field)
    return str(value)


def _debounce(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= DEBOUNCE_MAX:
        raise InvalidInput(
            f"consecutive_needed: a whole number of failing observations in a row, 1 to {DEBOUNCE_MAX}",
            field="consecutive_needed",
        )
    return value
