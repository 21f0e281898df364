"""The dev deployment's monitor and its default rules (``manage.py monitor watch-demo``).

The rules and why their debounce differs:
- per-block rules (oracle staleness, sanity, jump, deviation; drain; solvency; supply) judge a
  block's committed state, and the same block always gives the same answer: a debounce would
  only add blocks of latency (the circuit breaker's target is a pause within 2 blocks), so they
  fire on the first failing block (``consecutive_needed=1``). A reorg is handled by re-checking,
  not by waiting;
- the node rules judge a moving wall clock and a network: block stall needs 2 observations in a
  row, an unreachable node 3, so one dropped request opens nothing.

The oracle and drain rules answer with a pause of the vault and the RecoveryExecutor (the
guardian's ``pause()``); the oracle rules pause the margin market first, when the deployment has
one: it prices positions from the feed, and its ``pause()`` stops liquidations, so a wrong price
stops liquidating healthy positions as soon as it is seen. Solvency and supply open an incident;
the node rules notify.

Solvency on the demo vault: it prices shares from its own balance, so its own price of all shares
(``convertToAssets(totalSupply())``) equals its assets by construction and can never fail. The demo
rule uses ``par`` instead (each share owed one asset unit, the price shares were issued at): it
fails when collateral leaves without shares being burned (a loss). The demo exploit burns the
victims' shares as it takes their assets, so the vault stays solvent after it: the exploit is a
theft from holders, which the drain rule catches, not an insolvency.

The block-stall rule is created disabled: the dev chain mines only when a transaction arrives
(anvil's automine), so an idle dev chain "stalls" by design. Enable it on a chain with a block time.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from monitoring.exceptions import InvalidRuleParams, NoDeploymentToWatch
from monitoring.models import ResponseKind, Rule, RuleKind, Severity, WatchedDeployment
from monitoring.rules import METRICS, validate_params
from recovery.models import Deployment, IncidentKind
from recovery.selectors import get_current_deployment

WATCHED_ROLES = ("vault", "asset", "price_feed", "reference_feed", "recovery_executor")
ADDRESS_PARAMS = ("feed", "reference_feed", "vault", "contract", "asset", "token", "from_block")


@dataclass(frozen=True, slots=True)
class DefaultRule:
    name: str
    kind: str
    params: dict[str, Any]
    severity: str
    response: str
    incident_kind: str
    consecutive_needed: int
    pause: bool = False  # pause the vault and the RecoveryExecutor
    pause_market: bool = False  # and, first, the margin market (its liquidations) when there is one
    enabled: bool = True
    needs: tuple[str, ...] = field(default=())  # contract roles the rule needs


def default_rules(contracts: dict[str, str], asset_block: int) -> list[DefaultRule]:
    feed, reference = contracts.get("price_feed", ""), contracts.get("reference_feed", "")
    vault, asset = contracts.get("vault", ""), contracts.get("asset", "")
    oracle = {
        "severity": Severity.CRITICAL,
        "response": ResponseKind.PAUSE,
        "incident_kind": IncidentKind.ORACLE_FAILURE,
        "consecutive_needed": 1,
        "pause": True,
        "pause_market": True,
    }
    return [
        DefaultRule(
            "oracle-stale",
            RuleKind.ORACLE_STALE,
            {"feed": feed, "heartbeat_seconds": 3600, "grace_seconds": 60},
            needs=("price_feed",),
            **oracle,
        ),
        DefaultRule("oracle-sanity", RuleKind.ORACLE_ANSWER, {"feed": feed}, needs=("price_feed",), **oracle),
        DefaultRule(
            "oracle-jump", RuleKind.ORACLE_JUMP, {"feed": feed, "max_jump_bps": 2000}, needs=("price_feed",), **oracle
        ),
        DefaultRule(
            "oracle-deviation",
            RuleKind.ORACLE_DEVIATION,
            {"feed": feed, "reference_feed": reference, "max_deviation_bps": 500},
            needs=("price_feed", "reference_feed"),
            **oracle,
        ),
        DefaultRule(
            "vault-drain",
            RuleKind.DRAIN,
            {"contract": vault, "asset": asset, "window_blocks": 5, "max_outflow_bps": 2000},
            Severity.CRITICAL,
            ResponseKind.PAUSE,
            IncidentKind.PROTOCOL_EXPLOIT,
            1,
            pause=True,
            needs=("vault", "asset"),
        ),
        DefaultRule(
            "vault-solvency",
            RuleKind.SOLVENCY,
            {"vault": vault, "liabilities": "par"},
            Severity.CRITICAL,
            ResponseKind.INCIDENT,
            IncidentKind.PROTOCOL_EXPLOIT,
            1,
            needs=("vault",),
        ),
        DefaultRule(
            "asset-supply",
            RuleKind.SUPPLY,
            {"token": asset, "from_block": asset_block},
            Severity.WARNING,
            ResponseKind.INCIDENT,
            IncidentKind.PROTOCOL_EXPLOIT,
            1,
            needs=("asset",),
        ),
        DefaultRule(
            "block-stall",
            RuleKind.BLOCK_STALL,
            {"stall_seconds": 60},
            Severity.WARNING,
            ResponseKind.NOTIFY,
            IncidentKind.OTHER,
            2,
            enabled=False,
        ),
        DefaultRule(
            "rpc-unreachable",
            RuleKind.RPC_UNREACHABLE,
            {},
            Severity.CRITICAL,
            ResponseKind.NOTIFY,
            IncidentKind.OTHER,
            3,
        ),
    ]


@transaction.atomic
def watch_demo(*, rpc_url: str, name: str = "dev", interval_seconds: int = 2) -> WatchedDeployment:
    """The watched deployment ``name`` for the current deployment at ``rpc_url``, with the default rules.

    Idempotent: a second call creates nothing new. It points the monitor at the current
    deployment's addresses (a redeployed dev chain gets its new contracts, and the monitor starts
    again at the head), adds missing default rules, and keeps the thresholds, severity, response
    and debounce of rules that exist (someone may have tuned them).
    """
    deployment = get_current_deployment(rpc_url=rpc_url)
    if deployment is None:
        raise NoDeploymentToWatch(
            "no deployment is recorded for the configured chain: start the dev chain first "
            "(python manage.py devchain, or make devchain), then run watch-demo again",
            field="rpc_url",
        )
    contracts = {c.role: c.address for c in deployment.contracts.all() if c.role in WATCHED_ROLES}
    asset_block = next((c.block for c in deployment.contracts.all() if c.role == "asset"), 0)
    watched, created = WatchedDeployment.objects.get_or_create(
        name=name,
        defaults={
            "chain_id": deployment.chain_id,
            "rpc_url": rpc_url,
            "deployment": deployment,
            "contracts": contracts,
            "interval_seconds": interval_seconds,
        },
    )
    if not created and (watched.deployment_id != deployment.pk or watched.contracts != contracts):
        _repoint(watched, deployment, contracts, rpc_url)
    pause_targets = [contracts[r] for r in ("vault", "recovery_executor") if r in contracts]
    # Not a watched role (the rules read no state of it): only a pause target of the oracle rules.
    market = next((c.address for c in deployment.contracts.all() if c.role == "margin_market"), None)
    market_targets = [market, *pause_targets] if market else pause_targets
    for default in default_rules(contracts, asset_block):
        if any(role not in contracts for role in default.needs):
            continue  # an older deployment without that contract (the reference feed, say)
        params = validate_params(default.kind, default.params)
        rule = Rule.objects.filter(watched=watched, name=default.name).first()
        if rule is None:
            Rule.objects.create(
                watched=watched,
                name=default.name,
                kind=default.kind,
                params=params,
                severity=default.severity,
                response=default.response,
                pause_targets=(market_targets if default.pause_market else pause_targets) if default.pause else [],
                incident_kind=default.incident_kind,
                consecutive_needed=default.consecutive_needed,
                enabled=default.enabled,
                metric=METRICS.get(default.kind, ""),
            )
        elif rule.kind == default.kind:
            # The addresses follow the deployment; the thresholds stay as they were tuned.
            merged = {**rule.params, **{k: v for k, v in params.items() if k in ADDRESS_PARAMS}}
            try:
                merged = validate_params(rule.kind, merged)
            except InvalidRuleParams:
                merged = params
            targets = market_targets if default.pause_market else pause_targets
            targets = targets if rule.pause_targets or default.pause else []
            if merged != rule.params or targets != rule.pause_targets:
                rule.params, rule.pause_targets = merged, targets
                rule.save(update_fields=["params", "pause_targets"])
    return watched


def _repoint(watched: WatchedDeployment, deployment: Deployment, contracts: dict[str, str], rpc_url: str) -> None:
    """A new deployment behind the same name: new addresses, and progress from the head again."""
    watched.deployment, watched.chain_id, watched.rpc_url, watched.contracts = (
        deployment,
        deployment.chain_id,
        rpc_url,
        contracts,
    )
    watched.last_block, watched.last_block_hash, watched.head_block, watched.head_changed_at = None, "", None, None
    watched.watching_since = None
    watched.save(
        update_fields=[
            "deployment",
            "chain_id",
            "rpc_url",
            "contracts",
            "last_block",
            "last_block_hash",
            "watching_since",
            "head_block",
            "head_changed_at",
        ]
    )
