"""Monitoring rows built straight with the models, for the pages' and the API's tests: a watched
deployment whose RPC URL carries credentials, a healthy rule, a rule firing on a drain with its
observations, an open firing with its evidence, a pause that landed, a webhook that failed once,
and an incident the firing opened.

The monitor itself (``monitoring.engine``) is tested on anvil by its own tests; here only the
rows the engine writes are needed.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from monitoring.models import (
    ActionKind,
    ActionStatus,
    Firing,
    Observation,
    PauseAction,
    PauseRecord,
    ResponseAction,
    ResponseKind,
    Rule,
    RuleKind,
    RuleState,
    Severity,
    WatchedDeployment,
)
from recovery.models import IncidentKind
from tests.factories import IncidentFactory

# Credentials in the user part, the path and the query: none of them may appear on a page or in an answer.
SECRET_RPC_URL = "http://user:pw-s3cret@node.example:8545/key123abc?apikey=topsecret42"
SECRET_PARTS = ("user:pw", "pw-s3cret", "key123abc", "topsecret42", "apikey")
VAULT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ASSET = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
EXECUTOR = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
FEED = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
GUARDIAN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
BIG = 2**256 - 1  # a uint256 shown exactly
BLOCK_HASH = "0x" + "ab" * 32
PAUSE_TX = "0x" + "cd" * 32


@dataclass
class MonitoringWorld:
    watched: WatchedDeployment
    healthy: Rule
    drain: Rule
    firing: Firing
    resolved: Firing


def build_world(*, rpc_url: str = SECRET_RPC_URL, observations: int = 12) -> MonitoringWorld:
    now = timezone.now()
    watched = WatchedDeployment.objects.create(
        name="demo",
        chain_id=31337,
        rpc_url=rpc_url,
        contracts={"vault": VAULT, "asset": ASSET, "recovery_executor": EXECUTOR, "price_feed": FEED},
        head_block=130,
        last_block=128,
        last_block_hash=BLOCK_HASH,
        head_changed_at=now,
        last_run_at=now,
        last_error=f"the node at {rpc_url} timed out once",
    )
    healthy = Rule.objects.create(
        watched=watched,
        name="feed-stale",
        kind=RuleKind.ORACLE_STALE,
        params={"feed": FEED, "heartbeat_seconds": 3600, "grace_seconds": 60},
        severity=Severity.WARNING,
        response=ResponseKind.NOTIFY,
        state=RuleState.OK,
        metric="age in seconds",
        last_observed_at=now,
        last_ok_at=now,
    )
    drain = Rule.objects.create(
        watched=watched,
        name="vault-drain",
        kind=RuleKind.DRAIN,
        params={"contract": VAULT, "asset": ASSET, "window_blocks": 5, "max_outflow_bps": 2000},
        severity=Severity.CRITICAL,
        response=ResponseKind.PAUSE,
        pause_targets=[VAULT, EXECUTOR],
        incident_kind=IncidentKind.PROTOCOL_EXPLOIT,
        consecutive_needed=2,
        state=RuleState.FIRING,
        consecutive_failures=3,
        metric="outflow in base units",
        last_observed_at=now,
    )
    for i in range(observations):
        block = 100 + i
        failing = i >= observations - 3
        Observation.objects.create(
            rule=healthy,
            chain_id=31337,
            block_number=block,
            block_hash=BLOCK_HASH,
            ok=True,
            value=str(30 + i),
            values={"updated_at": str(1_700_000_000 + i)},
            source="node.example:8545",
            observed_at=now - timedelta(seconds=observations - i),
        )
        Observation.objects.create(
            rule=drain,
            chain_id=31337,
            block_number=block,
            block_hash=BLOCK_HASH,
            ok=not failing,
            cause="outflow" if failing else "",
            message=f"outflow {BIG} above 20% of holdings" if failing else "",
            value=str(BIG if failing else 1_000 * i),
            values={"outflow": str(BIG if failing else 1_000 * i), "holdings": "5000000000000000000000"},
            source="node.example:8545",
            observed_at=now - timedelta(seconds=observations - i),
        )
    incident = IncidentFactory(title="Drain on the demo vault", opened_via="monitor:demo/vault-drain")
    evidence = [
        {
            "block_number": 100 + observations - 2,
            "block_hash": BLOCK_HASH,
            "value": str(BIG),
            "values": {"outflow": str(BIG), "holdings": "5000000000000000000000"},
            "message": f"outflow {BIG} above 20% of holdings",
            "source": "node.example:8545",
        }
    ]
    firing = Firing.objects.create(
        rule=drain,
        cause="outflow",
        message="outflow above 20% of the vault's holdings within 5 blocks",
        first_block=100 + observations - 2,
        last_block=100 + observations - 1,
        times_fired=1,
        evidence=evidence,
        incident=incident,
        last_fired_at=now,
    )
    ResponseAction.objects.create(
        firing=firing,
        kind=ActionKind.PAUSE,
        target=VAULT,
        status=ActionStatus.DONE,
        attempts=1,
        tx_hash=PAUSE_TX,
        block_number=100 + observations,
        done_at=now,
    )
    ResponseAction.objects.create(
        firing=firing,
        kind=ActionKind.WEBHOOK,
        target="ops-webhook",
        status=ActionStatus.FAILED,
        attempts=2,
        detail={"status_codes": [500, 500]},
        last_error=f"POST to {rpc_url} answered 500",  # a careless error text: must still come out redacted
    )
    PauseRecord.objects.create(
        chain_id=31337,
        contract=VAULT,
        action=PauseAction.PAUSE,
        tx_hash=PAUSE_TX,
        block_number=100 + observations,
        by_address=GUARDIAN,
        firing=firing,
    )
    resolved = Firing.objects.create(
        rule=healthy,
        cause="stale",
        status="resolved",
        message="feed stale",
        resolved_at=now,
        resolution="healthy again at block 105",
    )
    return MonitoringWorld(watched=watched, healthy=healthy, drain=drain, firing=firing, resolved=resolved)
