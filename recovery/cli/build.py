"""`plan build --analysis N --mode M --policy P ...`: allocate, batch and commit a new plan version."""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from recovery.models import PlanDelivery, PlanMode, PlanPolicy


def _pair(text: str) -> tuple[str, str]:
    asset, sep, amount = text.partition("=")
    if not sep:
        raise CommandError(f"{text!r} is not ASSET=AMOUNT (amount in base units)")
    return asset, amount


def add_parsers(sub: _SubParsersAction) -> None:
    build = sub.add_parser("build", help="allocate, batch and commit a new plan version")
    build.add_argument("--analysis", type=int, required=True)
    build.add_argument("--mode", required=True, choices=PlanMode.values)
    build.add_argument("--policy", required=True, choices=PlanPolicy.values)
    build.add_argument("--budget", action="append", default=[], help="ASSET=AMOUNT in base units (repeatable)")
    build.add_argument("--payout-token", action="append", default=[], help="ASSET=TOKEN paid instead (restore)")
    build.add_argument("--exclude", action="append", default=[], help="account to exclude (repeatable)")
    build.add_argument(
        "--include-contract",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="pay a protocol contract excluded by default (the incident's contracts, vaults, tokens; repeatable)",
    )
    build.add_argument("--dust", default="0", help="drop allocations below this many base units")
    build.add_argument("--gas-ceiling", type=int, default=10_000_000)
    build.add_argument("--parameter-changes", default=None, help="JSON file: [{target, signature, args, value}]")
    build.add_argument(
        "--claims",
        action="append",
        default=[],
        metavar="ASSET=FILE.csv",
        help="explicit claims of ASSET from a CSV with header account,amount (repeatable)",
    )
    build.add_argument(
        "--delivery",
        choices=PlanDelivery.values,
        default=None,
        help="push, push_fallback (restitute only) or pull (default: push_fallback for restitute, push for restore)",
    )
    deadline = build.add_mutually_exclusive_group()
    deadline.add_argument("--claim-deadline", type=int, default=None, help="pull: last claim time, a unix timestamp")
    deadline.add_argument("--claim-days", type=int, default=None, help="pull: claims stay open N days from now")
    build.add_argument(
        "--recovery-executor",
        default=None,
        metavar="ADDRESS",
        help="the RecoveryExecutor the batch leaves are bound to (default: the newest deployment's on the chain)",
    )
    build.add_argument(
        "--venue",
        default=None,
        metavar="ADDRESS",
        help="restore_positions: the migrated margin market the positions are re-created on",
    )
    build.add_argument("--auto-execute", action="store_true", help="start execution by itself once approved")
    build.add_argument("--json", action="store_true")

    build.set_defaults(handler=handle_build)


def handle_build(command: BaseCommand, options: dict[str, Any]) -> None:
    # Imported here, not at the top: `--help` needs none of these (web3, DRF: most of a second).
    from config.errors import LifeboatError
    from recovery.plans import build_plan, read_claims_csv

    changes = []
    if options["parameter_changes"]:
        try:
            with open(options["parameter_changes"]) as handle:
                changes = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"--parameter-changes: {error}") from None
    try:
        claims = {}
        for text in options["claims"]:
            asset, path = _pair(text)
            try:
                with open(path, newline="") as handle:
                    claims[asset] = read_claims_csv(handle.read())
            except OSError as error:
                raise CommandError(f"--claims: {error}") from None
        plan = build_plan(
            analysis_id=options["analysis"],
            mode=options["mode"],
            policy=options["policy"],
            budgets=dict(_pair(text) for text in options["budget"]),
            payout_tokens=dict(_pair(text) for text in options["payout_token"]),
            exclusions=options["exclude"],
            include_contracts=options["include_contract"],
            dust_threshold=options["dust"],
            parameter_changes=changes,
            gas_ceiling=options["gas_ceiling"],
            claims=claims,
            delivery=options["delivery"],
            claim_deadline=options["claim_deadline"],
            claim_days=options["claim_days"],
            recovery_executor=options["recovery_executor"],
            auto_execute=options["auto_execute"],
            venue=options["venue"],
        )
    except LifeboatError as error:
        raise CommandError(error.message) from None
    if options["json"]:
        command.stdout.write(json.dumps({"plan": plan.pk, "version": plan.version, **plan.summary}, indent=2))
    else:
        summary = plan.summary
        deadline = f", claims until {summary['claim_deadline']}" if summary["claim_deadline"] else ""
        command.stdout.write(
            f"plan {plan.pk} (version {plan.version}) built: delivery {summary['delivery']}{deadline}, "
            f"RecoveryExecutor {summary['recovery_executor']}, incident key {summary['incident_key']}"
            + (", executes by itself once approved" if summary["auto_execute"] else "")
        )
        for asset, entry in summary["assets"].items():
            earlier = entry["paid_by_earlier_versions"]
            command.stdout.write(
                f"  {asset}: {entry['recipients']} recipients, {entry['batches']} batches, "
                f"allocated {entry['total_allocated']} of budget {entry['budget']}; "
                f"commitment {entry['commitment_root'] or 'none'}, allocation root {entry['allocation_root'] or 'none'}"
                + (
                    f"; net of {earlier['total']} paid by earlier versions to {earlier['accounts']} accounts"
                    if earlier["accounts"]
                    else ""
                )
            )
            if entry.get("venue"):
                command.stdout.write(
                    f"  {asset}: {entry['recipients']} positions at the rollback block re-created on {entry['venue']}"
                )
        for kind, label in (("excluded_by_default", "excluded by default"), ("included", "included")):
            for contract in plan.summary["contracts"][kind]:
                command.stdout.write(f"  {label}: {contract['account']} ({contract['reason']})")
