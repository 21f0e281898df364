import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import LifeboatError


class Command(BaseCommand):
    help = (
        "The monitors: `monitor run [--once] [--name N] [--interval S]` runs the watched deployments "
        "(every due one, or only N) until stopped, or once; `monitor list` shows each rule's state; "
        "`monitor watch-demo [--name N]` watches the dev chain's current deployment with the default rules "
        "(idempotent). Uses CHAIN_RPC_URL for watch-demo."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="run the monitors")
        run.add_argument("--once", action="store_true", help="one run, then exit")
        run.add_argument("--name", help="only this watched deployment (run whether due or not)")
        run.add_argument(
            "--interval", type=float, default=None, help="seconds between runs (default MONITOR_INTERVAL_SECONDS)"
        )
        sub.add_parser("list", help="watched deployments, their rules and states")
        demo = sub.add_parser("watch-demo", help="watch the dev chain's current deployment")
        demo.add_argument("--name", default="dev")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "list":
                self._list()
            elif options["action"] == "watch-demo":
                self._watch_demo(options["name"])
            else:
                self._run(once=options["once"], name=options["name"], interval=options["interval"])
        except LifeboatError as error:
            raise CommandError(error.message) from None

    def _watch_demo(self, name: str) -> None:
        from monitoring.setup import watch_demo

        watched = watch_demo(rpc_url=settings.CHAIN_RPC_URL, name=name)
        self.stdout.write(f"watching {watched.name} (chain {watched.chain_id}) with {watched.rules.count()} rules")
        self._list(names=[watched.name])

    def _run(self, *, once: bool, name: str | None, interval: float | None) -> None:
        from monitoring import engine
        from monitoring.exceptions import WatchedNotFound
        from monitoring.models import WatchedDeployment

        pause = settings.MONITOR_INTERVAL_SECONDS if interval is None else interval
        if pause < 0:
            raise CommandError(f"--interval {interval} is negative: give the seconds between runs")
        watched_id = None
        if name is not None:
            watched_id = WatchedDeployment.objects.filter(name=name).values_list("pk", flat=True).first()
            if watched_id is None:
                raise WatchedNotFound(f"there is no watched deployment named {name!r} (see `monitor list`)")
        while True:
            if watched_id is not None:
                result = engine.run_watched(watched_id)
                results = [result] if result is not None else []
                if result is None:
                    self.stdout.write(f"{name}: another process is running it; skipped")
            else:
                results = engine.run_due()
            for result in results:
                self.stdout.write(_describe(result))
            if once:
                return
            time.sleep(pause)

    def _list(self, names: list[str] | None = None) -> None:
        from monitoring.engine import node_host
        from monitoring.models import WatchedDeployment

        rows = WatchedDeployment.objects.prefetch_related("rules").order_by("name")
        if names is not None:
            rows = rows.filter(name__in=names)
        if not rows:
            self.stdout.write("no watched deployment: `monitor watch-demo` watches the dev chain")
        for watched in rows:
            self.stdout.write(
                f"{watched.name}: chain {watched.chain_id} at {node_host(watched.rpc_url)}, "
                f"last block {watched.last_block if watched.last_block is not None else '-'}, "
                f"head {watched.head_block if watched.head_block is not None else '-'}"
                + ("" if watched.enabled else " (disabled)")
                + (f", last error: {watched.last_error}" if watched.last_error else "")
            )
            for rule in watched.rules.all():
                streak = f" {rule.consecutive_failures}/{rule.consecutive_needed}" if rule.consecutive_failures else ""
                self.stdout.write(
                    f"  {rule.name:<18} {rule.kind:<17} {rule.severity:<8} {rule.response:<8} "
                    f"{rule.state if rule.enabled else 'disabled'}{streak}"
                )


def _describe(result: Any) -> str:
    covered = f"blocks {result.from_block}..{result.to_block}" if result.to_block is not None else "no new block"
    parts = [f"{result.watched}: head {result.head if result.head is not None else '-'}, {covered}"]
    if result.behind:
        parts.append(f"{result.behind} blocks left for the next run")
    if result.reorg_from is not None:
        parts.append(f"reorg: checked again from block {result.reorg_from}")
    if result.opened:
        parts.append(f"opened firings {result.opened}")
    if result.refired:
        parts.append(f"fired again {result.refired}")
    if result.resolved:
        parts.append(f"resolved {result.resolved}")
    if result.error:
        parts.append(f"error: {result.error}")
    return "; ".join(parts)
