import csv
import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chain.errors import ChainError
from chain.redaction import redact, redact_url


def _pair(text: str) -> tuple[str, str]:
    token, sep, reader = text.partition("=")
    if not sep:
        raise CommandError(f"--position {text!r} is not TOKEN=READER")
    return token, reader


class Command(BaseCommand):
    help = (
        "Impact analysis. `impact compute --incident N ...` records it; with --rpc and --token and no "
        "--incident it runs ad hoc against any JSON-RPC node, with nothing stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        compute = sub.add_parser("compute", help="compute the state diff between two blocks")
        compute.add_argument("--incident", type=int, default=None, help="record the analysis under this incident")
        compute.add_argument("--rpc", default=None, help="JSON-RPC URL (default: CHAIN_RPC_URL)")
        compute.add_argument("--token", action="append", default=[], help="ERC-20 token (repeatable)")
        compute.add_argument("--rollback-block", type=int, required=True, help="last good block")
        compute.add_argument("--reference-block", type=int, required=True, help="now, or the block the venue froze at")
        compute.add_argument("--from-block", type=int, default=0, help="where the log scan starts (token deployment)")
        compute.add_argument("--price-feed", default=None, help="AggregatorV3 feed valuing losses (recorded mode)")
        compute.add_argument(
            "--position",
            action="append",
            default=[],
            metavar="TOKEN=READER",
            help="also value TOKEN balances in its underlying with READER (vault_shares); recorded mode",
        )
        compute.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="enqueue on Celery instead of running here (the worker uses CHAIN_RPC_URL: not with another --rpc)",
        )
        compute.add_argument(
            "--allow-unconfirmed",
            action="store_true",
            help="take a reference block within CONFIRMATION_DEPTH of the head (the analysis is marked unconfirmed)",
        )
        compute.add_argument("--json", action="store_true", help="print the summary as JSON")
        compute.add_argument("--output", type=Path, default=None, help="CSV, one row per account (ad hoc mode)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: `--help` needs none of these (web3, DRF: most of a second).
        from config.errors import LifeboatError

        rpc = options["rpc"] or settings.CHAIN_RPC_URL
        if options["run_async"] and rpc != settings.CHAIN_RPC_URL:
            # The task runs on a worker against CHAIN_RPC_URL; a URL (with its key) is never stored
            # for it, and an analysis must never silently run against another node than asked.
            raise CommandError(
                f"--async runs the analysis on a worker, which uses the configured node "
                f"({redact_url(settings.CHAIN_RPC_URL)}), not --rpc {redact_url(rpc)}: drop --async to run it here "
                "against --rpc, or drop --rpc"
            )
        try:
            recorded = options["incident"] is not None
            summary = self._recorded(rpc, options) if recorded else self._ad_hoc(rpc, options)
        except LifeboatError as error:
            raise CommandError(redact(error.message, secrets=[rpc])) from None
        except ChainError as error:
            raise CommandError(redact(f"the node at {rpc} failed: {error}", secrets=[rpc])) from None
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            for key, value in summary.items():
                if not isinstance(value, dict | list):
                    self.stdout.write(f"{key}: {value}")

    def _ad_hoc(self, rpc: str, options: dict[str, Any]) -> dict[str, Any]:
        # Imported here, not at the top: `--help` needs none of these (web3, DRF: most of a second).
        from chain.balances import balances_at_two_blocks
        from recovery.diff import diff_balances, summarize
        from recovery.impact import check_analysis_request

        if not options["token"]:
            raise CommandError("--token is required without --incident")
        started = time.monotonic()
        tokens = check_analysis_request(
            rpc_url=rpc,
            rollback_block=options["rollback_block"],
            reference_block=options["reference_block"],
            from_block=options["from_block"],
            assets=options["token"],
            confirmation_depth=settings.CONFIRMATION_DEPTH,
            allow_unconfirmed=options["allow_unconfirmed"],
        ).tokens
        per_asset, rows, accounts = {}, [], set()
        for token in tokens:
            before, after = balances_at_two_blocks(
                rpc, token, options["rollback_block"], options["reference_block"], from_block=options["from_block"]
            )
            deltas = diff_balances(asset=token, before=before, after=after)
            accounts.update(d.account for d in deltas)
            per_asset[token] = summarize(deltas, asset=token).as_json()
            rows.extend(deltas)
        if options["output"]:
            with options["output"].open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["address", "asset", "before", "after", "delta"])
                for d in rows:
                    writer.writerow([d.account, d.asset, d.before, d.after, d.delta])
        return {
            "rollback_block": options["rollback_block"],
            "reference_block": options["reference_block"],
            "accounts_seen": len(accounts),
            "affected": sum(1 for d in rows if d.delta != 0),
            "assets": per_asset,
            "seconds": round(time.monotonic() - started, 3),
        }

    def _recorded(self, rpc: str, options: dict[str, Any]) -> dict[str, Any]:
        # Imported here, not at the top: `--help` needs none of these (web3, DRF: most of a second).
        from recovery import impact, tasks

        started = time.monotonic()
        analysis = impact.request_impact(
            incident_id=options["incident"],
            rpc_url=rpc,
            rollback_block=options["rollback_block"],
            reference_block=options["reference_block"],
            from_block=options["from_block"],
            assets=options["token"] or None,
            price_feed=options["price_feed"],
            positions=dict(_pair(text) for text in options["position"]),
            allow_unconfirmed=options["allow_unconfirmed"],
        )
        if options["run_async"]:
            tasks.compute_impact.delay(analysis.pk)
            return {"analysis": analysis.pk, "status": "queued"}
        try:
            analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=rpc)
        except Exception:  # recorded on the analysis, redacted: say that, not a traceback
            analysis.refresh_from_db()
            raise CommandError(f"impact analysis {analysis.pk} {analysis.status}: {analysis.error}") from None
        return {
            "analysis": analysis.pk,
            "status": analysis.status,
            "unconfirmed": analysis.unconfirmed,
            "error": analysis.error,
            "logs": analysis.logs_done,
            "seconds": round(time.monotonic() - started, 3),
            "summary": analysis.summary,
        }
