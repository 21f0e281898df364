"""`plan verify --plan N [--asset A] [--output report.md|report.json] [--json]`: check a plan's payments on chain."""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def add_parsers(sub: _SubParsersAction) -> None:
    verify = sub.add_parser(
        "verify",
        help="check every account of a plan against its payments on chain; exits non-zero on a mismatch",
    )
    verify.add_argument("--plan", type=int, required=True)
    verify.add_argument("--asset", default=None, help="only this asset (token address)")
    verify.add_argument(
        "--output", default=None, metavar="FILE", help="write the full report: Markdown, or JSON for a .json name"
    )
    verify.add_argument("--rpc-url", default=None, help="the node to read (default: CHAIN_RPC_URL)")
    verify.add_argument("--json", action="store_true", help="print the whole report as JSON")
    verify.set_defaults(handler=handle_verify)


def handle_verify(command: BaseCommand, options: dict[str, Any]) -> None:
    # Imported here, not at the top: `--help` needs none of it.
    from recovery.verification import MISMATCH, report_json, report_markdown, verify_plan

    report = verify_plan(options["plan"], asset=options["asset"], rpc_url=options["rpc_url"])
    data = report_json(report)
    output = options["output"]
    if output:
        text = json.dumps(data, indent=2) + "\n" if output.lower().endswith(".json") else report_markdown(report)
        try:
            with open(output, "w") as handle:
                handle.write(text)
        except OSError as error:
            raise CommandError(f"--output: cannot write {output}: {error}") from None
    if options["json"]:
        command.stdout.write(json.dumps(data, indent=2))
    else:
        command.stdout.write(
            f"plan {report.plan_id} on chain {report.chain_id} at block {report.block.number} ({report.block.hash})"
        )
        for item in report.assets:
            t = item.totals
            command.stdout.write(
                f"  {item.asset}: {item.verdict}; allocated {t['allocated']}, paid {t['paid']} (pushed {t['pushed']}, "
                f"credited {t['credited']}, claimed {t['claimed']}), owed {t['owed']}, claimable {t['claimable']}; "
                f"batches {len(item.batches_executed)}/{item.batches_total}"
            )
            for problem in item.problems:
                command.stdout.write(f"    problem: {problem}")
        t = report.totals
        command.stdout.write(
            f"verdict: {report.verdict}; allocated {t['allocated']}, paid {t['paid']}, owed {t['owed']}, "
            f"claimable {t['claimable']} ({report.seconds:.2f} s)"
        )
        if output:
            command.stdout.write(f"report written to {output}")
    if report.verdict == MISMATCH:
        raise CommandError(f"plan {report.plan_id}: the chain does not match the plan (see the problems above)")
