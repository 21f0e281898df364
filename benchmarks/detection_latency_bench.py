"""Detection latency: blocks from the block that breaks a rule to the block holding the guardian's pause.

    python benchmarks/detection_latency_bench.py [--runs 10] [--block-time 1] [--interval 0.2]
                                                 [--peer-interval 10] [--scenarios drain,deviation]
                                                 [--paths lifeboat,peer,floor] [--json OUT]

A fresh anvil with ``--block-time`` (1 s: blocks come on the clock, as on a real chain, not one
per transaction), the demo stack deployed and seeded, and a throwaway SQLite database migrated
here. The chain is snapshotted, and every run starts from that snapshot (``evm_revert``), so
each path meets the same state. Two ways to break a rule:

- **drain**: the demo exploit (``chain.demo.exploit_vault``: the drainer deployed, then one
  transaction draining three holders in four); the breaking block is the drain transaction's.
  The rule: outflow of the vault's asset above 20% of its holdings within 3 blocks.
- **deviation**: the primary price feed set 20% above the reference feed (``setAnswer`` by its
  owner); the rule: deviation above 5%.

Each rule has the response *pause* on the vault and the RecoveryExecutor, and fires on its first
failing observation (``consecutive_needed=1``: a debounce of n adds n-1 blocks, by design).

The paths, in rotating order per run:

- **lifeboat**: the real engine (``monitoring.engine.run_watched``) in a loop in this process,
  every ``--interval`` seconds (0.2 s, as ``manage.py monitor run --interval 0.2`` would);
  a firing goes to ``monitoring.responses.respond`` on commit, which sends the guardian's pause
  synchronously. Celery is not in the path (beat's interval would add up to one interval).
- **peer**: what a team without Lifeboat runs: a polling script that every ``--peer-interval``
  seconds makes the same check with plain web3.py (the vault's asset ``Transfer`` logs in the
  window against its balance at the window's start; the feeds' ``latestRoundData``), and on a
  failure builds, signs and sends ``pause()`` to each target with web3.py's ``build_transaction``.
  10 s is OpenZeppelin Monitor's schedule for a 1-second chain
  (``OpenZeppelin/openzeppelin-monitor: examples/config/networks/anvil_local.json``,
  ``"cron_schedule": "*/10 * * * * *"``); its mainnet examples run every minute. The peer is
  given the same checks, so only the schedule differs: ``--peer-interval 0.2`` shows that.
- **floor**: no check at all: a loop polling the head every 20 ms that, as soon as a block holds
  the breaking transaction's event (a ``Transfer`` from the vault, an ``AnswerUpdated``), sends
  pause transactions signed beforehand. Nothing can pause in the breaking block itself (its
  transactions are already ordered), so 1 block is the floor at any block time.

Reported per scenario and path: blocks from the breaking block to the block holding the later of
the two pauses (median, max), and wall seconds from the breaking transaction's receipt to both
pauses read back as ``paused()`` (median, max; polled every 20 ms). The script exits non-zero when a run of
any path does not end with both targets paused within the time limit.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DRAIN_WINDOW, DRAIN_BPS = 3, 2000
DEVIATION_BPS, BREAK_PERCENT = 500, 20
HOLDERS = 8
TIME_LIMIT = 60.0  # seconds a run may take to see both targets paused


def _setup_django(folder: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/detection.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LIFEBOAT_VAR_DIR"] = folder
    os.environ.pop("CHAIN_RPC_URL", None)  # the embedded mode: anvil's dev keys (guardian = committee)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MONITOR_WEBHOOKS, settings.MONITOR_EMAIL_TO = [], []  # the pause alone is measured
    for name, value in (("MONITOR_RPC_TIMEOUT_SECONDS", 10), ("MONITOR_RPC_RETRIES", 1), ("MONITOR_LEASE_SECONDS", 60)):
        if not hasattr(settings, name):
            setattr(settings, name, value)
    call_command("migrate", verbosity=0)


class Chain:
    """The anvil node, the demo deployment and the accounts the paths use."""

    def __init__(self, block_time: int) -> None:
        from chain import devkeys
        from chain.anvil import Anvil
        from chain.demo import deploy_demo_stack, seed_holders
        from chain.keys import load_account
        from chain.rpc import connect

        self.anvil = Anvil(port=0, block_time=block_time).start()
        self.w3 = connect(self.anvil.url)
        self.deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
        self.guardian = load_account(private_key=devkeys.COMMITTEE_KEY)
        self.attacker = load_account(private_key=devkeys.ATTACKER_KEY)
        executor = load_account(private_key=devkeys.EXECUTOR_KEY)
        deployment = deploy_demo_stack(
            self.w3,
            rpc_url=self.anvil.url,
            deployer=self.deployer,
            executor=executor.address,
            committee=self.guardian.address,
        )
        self.demo = seed_holders(self.w3, deployment, deployer=self.deployer, count=HOLDERS)
        self.targets = [self.demo.address("vault"), self.demo.address("recovery_executor")]
        self.snapshot = self._rpc("evm_snapshot", [])

    def _rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def revert(self) -> None:
        if not self._rpc("evm_revert", [self.snapshot]):
            raise RuntimeError("evm_revert failed")
        self.snapshot = self._rpc("evm_snapshot", [])  # evm_revert dropped it

    def all_paused(self) -> bool:
        from chain.guardian import is_paused

        return all(is_paused(self.w3, target) for target in self.targets)

    def pause_blocks(self, from_block: int) -> list[int]:
        """The blocks of the guardian's Paused events on the targets since ``from_block``."""
        from chain.guardian import pause_events

        head = self.w3.eth.block_number
        events = pause_events(self.w3, self.targets, from_block=from_block, to_block=head)
        return [e.block_number for e in events if e.action == "pause"]

    def stop(self) -> None:
        self.anvil.stop()


# --- breaking a rule ---------------------------------------------------------------------------


def break_drain(chain: Chain) -> int:
    """The demo exploit; returns the block of the drain transaction."""
    from chain.demo import exploit_vault

    victims = [h for i, h in enumerate(chain.demo.holders) if i % 4 != 3]
    _, tx_hash = exploit_vault(chain.w3, chain.demo, attacker=chain.attacker, victims=victims)
    return int(chain.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])


def break_deviation(chain: Chain) -> int:
    """The primary feed set ``BREAK_PERCENT`` above the reference; returns the block of that transaction."""
    from chain.artifacts import bind
    from chain.transact import send

    feed = bind(chain.w3, "DemoPriceFeed", chain.demo.address("price_feed"))
    _, answer, *_ = feed.functions.latestRoundData().call()
    receipt = send(chain.w3, chain.deployer, feed.functions.setAnswer(answer * (100 + BREAK_PERCENT) // 100))
    return int(receipt["blockNumber"])


SCENARIOS: dict[str, Callable[[Chain], int]] = {"drain": break_drain, "deviation": break_deviation}


def rule_params(chain: Chain, scenario: str) -> tuple[str, dict[str, Any]]:
    if scenario == "drain":
        return "drain", {
            "contract": chain.demo.address("vault"),
            "asset": chain.demo.address("asset"),
            "window_blocks": DRAIN_WINDOW,
            "max_outflow_bps": DRAIN_BPS,
        }
    return "oracle_deviation", {
        "feed": chain.demo.address("price_feed"),
        "reference_feed": chain.demo.address("reference_feed"),
        "max_deviation_bps": DEVIATION_BPS,
    }


# --- the paths -----------------------------------------------------------------------------------


class Loop:
    """A background loop calling ``step`` every ``interval`` seconds until stopped."""

    def __init__(self, step: Callable[[], None], interval: float) -> None:
        self.stop_event = threading.Event()
        self.errors: list[str] = []

        def run() -> None:
            while not self.stop_event.is_set():
                try:
                    step()
                except Exception as error:  # recorded and shown: a benchmark path must not die silently
                    self.errors.append(f"{type(error).__name__}: {error}")
                self.stop_event.wait(interval)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)


def lifeboat_path(chain: Chain, scenario: str, interval: float) -> Loop:
    from django.db import connection

    from monitoring import engine
    from monitoring.models import (
        Firing,
        Observation,
        PauseRecord,
        ResponseAction,
        ResponseKind,
        Rule,
        WatchedDeployment,
    )
    from recovery.models import Incident

    ResponseAction.objects.all().delete()
    PauseRecord.objects.all().delete()
    Firing.objects.all().delete()
    Observation.objects.all().delete()
    Incident.objects.filter(opened_via__startswith="monitor:").delete()
    WatchedDeployment.objects.all().delete()
    watched = WatchedDeployment.objects.create(
        name="bench",
        chain_id=int(chain.w3.eth.chain_id),
        rpc_url=chain.anvil.url,
        contracts={role: chain.demo.address(role) for role in ("vault", "asset", "price_feed", "reference_feed")},
        interval_seconds=1,
    )
    kind, params = rule_params(chain, scenario)
    Rule.objects.create(
        watched=watched,
        name=scenario,
        kind=kind,
        params=params,
        response=ResponseKind.PAUSE,
        pause_targets=chain.targets,
        consecutive_needed=1,
    )

    def step() -> None:
        try:
            engine.run_watched(watched.pk)
        finally:
            connection.close_if_unusable_or_obsolete()

    loop = Loop(step, interval)
    _wait_for(lambda: WatchedDeployment.objects.get(pk=watched.pk).last_block is not None, "the first monitor run")
    return loop


def peer_path(chain: Chain, scenario: str, interval: float) -> Loop:
    """A plain web3.py polling script: the same check every ``interval`` s, then ``pause()`` per target."""
    from chain.artifacts import bind

    w3 = chain.w3
    asset = bind(w3, "DemoAsset", chain.demo.address("asset"))
    vault = chain.demo.address("vault")
    feed = bind(w3, "DemoPriceFeed", chain.demo.address("price_feed"))
    reference = bind(w3, "DemoPriceFeed", chain.demo.address("reference_feed"))
    transfer = w3.keccak(text="Transfer(address,address,uint256)")
    state = {"last": w3.eth.block_number, "paused": False}

    def failing(block: int) -> bool:
        if scenario == "drain":
            start = max(block - DRAIN_WINDOW + 1, 0)
            logs = w3.eth.get_logs(
                {
                    "address": asset.address,
                    "fromBlock": start,
                    "toBlock": block,
                    "topics": [transfer, "0x" + "00" * 12 + vault[2:].lower()],
                }
            )
            outflow = sum(int.from_bytes(bytes(log["data"]), "big") for log in logs)
            held = asset.functions.balanceOf(vault).call(block_identifier=start - 1)
            return held > 0 and outflow * 10_000 > DRAIN_BPS * held
        answer = feed.functions.latestRoundData().call(block_identifier=block)[1]
        ref = reference.functions.latestRoundData().call(block_identifier=block)[1]
        return abs(answer - ref) * 10_000 > DEVIATION_BPS * ref

    def step() -> None:
        if state["paused"]:
            return
        head = w3.eth.block_number
        for block in range(state["last"] + 1, head + 1):
            if failing(block):
                for target in chain.targets:
                    call = bind(w3, "DemoVault", target).functions.pause()
                    tx = call.build_transaction(
                        {
                            "from": chain.guardian.address,
                            "nonce": w3.eth.get_transaction_count(chain.guardian.address, "pending"),
                        }
                    )
                    w3.eth.send_raw_transaction(chain.guardian.sign_transaction(tx).raw_transaction)
                state["paused"] = True
                break
        state["last"] = head

    return Loop(step, interval)


def floor_path(chain: Chain, scenario: str, _interval: float) -> Loop:
    """No check: the breaking event seen in a new block triggers pause transactions signed beforehand."""
    from chain import sender as chain_sender
    from chain.guardian import PAUSE_CALLDATA

    w3 = chain.w3
    if scenario == "drain":
        watch = {
            "address": chain.demo.address("asset"),
            "topics": [
                w3.keccak(text="Transfer(address,address,uint256)"),
                "0x" + "00" * 12 + chain.demo.address("vault")[2:].lower(),
            ],
        }
    else:
        watch = {"address": chain.demo.address("price_feed")}
    fees = chain_sender.suggest_fees(w3, cap=10**12)
    nonce = w3.eth.get_transaction_count(chain.guardian.address, "pending")
    signed = [
        chain_sender.sign(
            chain.guardian,
            chain_id=int(w3.eth.chain_id),
            nonce=nonce + i,
            to=target,
            data=PAUSE_CALLDATA,
            gas=80_000,
            fees=fees,
        ).raw
        for i, target in enumerate(chain.targets)
    ]
    state = {"last": w3.eth.block_number, "sent": False}

    def step() -> None:
        if state["sent"]:
            return
        head = w3.eth.block_number
        if head > state["last"]:
            if w3.eth.get_logs({**watch, "fromBlock": state["last"] + 1, "toBlock": head}):
                for raw in signed:
                    w3.eth.send_raw_transaction(raw)
                state["sent"] = True
            state["last"] = head

    return Loop(step, 0.02)


PATHS: dict[str, Callable[[Chain, str, float], Loop]] = {
    "lifeboat": lifeboat_path,
    "peer": peer_path,
    "floor": floor_path,
}


def _wait_for(condition: Callable[[], bool], what: str, limit: float = TIME_LIMIT, poll: float = 0.05) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {limit:.0f} s for {what}")
        time.sleep(poll)


def one_run(chain: Chain, scenario: str, path: str, interval: float, phase: random.Random) -> dict[str, Any]:
    chain.revert()
    loop = PATHS[path](chain, scenario, interval)
    try:
        # The path runs for a while first; the break then lands at a random phase of the path's
        # schedule (for the 10 s polling script, anywhere in its interval), as an attacker's would.
        time.sleep(1.3 + phase.uniform(0, interval if interval > 1 else 0))
        broken = SCENARIOS[scenario](chain)
        seen = time.monotonic()  # the breaking transaction's receipt is in hand
        _wait_for(chain.all_paused, f"{path} to pause both targets after block {broken}", poll=0.02)
        wall = time.monotonic() - seen
    finally:
        loop.stop()
    if loop.errors:
        raise RuntimeError(f"{path}: {loop.errors[0]}")
    paused = max(chain.pause_blocks(broken))
    return {
        "broken": broken,
        "paused": paused,
        "blocks": paused - broken,
        "seconds": round(wall, 2),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    blocks = [r["blocks"] for r in runs]
    seconds = [r["seconds"] for r in runs]
    return {
        "runs": len(runs),
        "blocks_median": statistics.median(blocks),
        "blocks_max": max(blocks),
        "seconds_median": round(statistics.median(seconds), 2),
        "seconds_max": max(seconds),
        "blocks": blocks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per scenario and path (default 10)")
    parser.add_argument("--block-time", type=int, default=1, help="anvil --block-time, seconds (default 1)")
    parser.add_argument("--interval", type=float, default=0.2, help="Lifeboat's monitor loop interval (default 0.2 s)")
    parser.add_argument(
        "--peer-interval", type=float, default=10.0, help="the polling script's interval (default 10 s)"
    )
    parser.add_argument("--scenarios", default="drain,deviation", help="drain, deviation or both (default)")
    parser.add_argument("--paths", default="lifeboat,peer,floor", help=f"any of {', '.join(PATHS)}")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    paths = [p for p in args.paths.split(",") if p]
    if set(scenarios) - set(SCENARIOS) or set(paths) - set(PATHS):
        parser.error(f"scenarios: {', '.join(SCENARIOS)}; paths: {', '.join(PATHS)}")
    with tempfile.TemporaryDirectory(prefix="lifeboat-detection-") as folder:
        _setup_django(folder)
        chain = Chain(args.block_time)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {p: [] for p in paths} for s in scenarios}
        phase = random.Random(15)  # the same phases on every invocation
        try:
            for scenario in scenarios:
                for run in range(args.runs):
                    order = paths[run % len(paths) :] + paths[: run % len(paths)]  # rotating rounds
                    for path in order:
                        interval = args.peer_interval if path == "peer" else args.interval
                        outcome = one_run(chain, scenario, path, interval, phase)
                        results[scenario][path].append(outcome)
                        print(
                            f"{scenario} {path} run {run + 1}: {outcome['blocks']} block(s), {outcome['seconds']} s",
                            flush=True,
                        )
        finally:
            chain.stop()
    figures = {
        "block_time": args.block_time,
        "interval": args.interval,
        "peer_interval": args.peer_interval,
        "scenarios": {s: {p: summary(runs) for p, runs in by_path.items()} for s, by_path in results.items()},
        "raw": results,
    }
    print(f"\nDetection latency at --block-time {args.block_time}, {args.runs} runs each (breaking block -> pause)\n")
    print("| scenario | path | blocks median | blocks max | seconds median | seconds max |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for scenario, by_path in figures["scenarios"].items():
        for path, row in by_path.items():
            label = {
                "lifeboat": f"Lifeboat (loop {args.interval} s)",
                "peer": f"polling script ({args.peer_interval:g} s)",
            }.get(path, "floor (event -> presigned pause)")
            print(
                f"| {scenario} | {label} | {row['blocks_median']} | {row['blocks_max']} | "
                f"{row['seconds_median']} | {row['seconds_max']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
