"""`plan execute|status|pause|resume|cancel|reconcile`: run approved plans from the command line.

Actions taken here are recorded with the actor "cli" (no user).
"""

import json
import time
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand


def add_parsers(sub: _SubParsersAction) -> None:
    execute = sub.add_parser("execute", help="start executing an approved plan (its batches go to the workers)")
    execute.add_argument("--plan", type=int, required=True)
    execute.add_argument("--asset", default=None, help="the asset, when the plan pays several")
    execute.add_argument("--follow", action="store_true", help="print progress until the run ends")
    execute.set_defaults(handler=handle_execute)

    status = sub.add_parser("status", help="the execution runs of a plan and their progress")
    status.add_argument("--plan", type=int, required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=handle_status)

    for action, text in (
        ("pause", "pause a running execution"),
        ("resume", "resume a paused execution"),
        ("cancel", "cancel an execution for good"),
    ):
        parser = sub.add_parser(action, help=text)
        parser.add_argument("--run", type=int, required=True)
        parser.set_defaults(handler=handle_run_action, run_action=action)

    reconcile = sub.add_parser("reconcile", help="one reconciliation pass of every execution against the chain")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(handler=handle_reconcile)


def progress_line(run: Any, progress: dict[str, Any], *, width: int = 30) -> str:
    total = progress["batches_total"] or 1
    done = progress["batches_done"]
    filled = width * done // total
    bar = "#" * filled + "-" * (width - filled)
    return (
        f"run {run.pk} [{bar}] {done}/{progress['batches_total']} batches, "
        f"{progress['accounts_paid']}/{progress['accounts_total']} accounts, "
        f"{progress['batches_failed']} failed, {progress['batches_in_flight']} in flight, "
        f"gas {progress['gas_used']}, fees {progress['fees_spent_wei']} wei: {run.status}"
    )


def handle_execute(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.core.management.base import CommandError

    from recovery import execution, execution_selectors
    from recovery.models import ExecutionRunStatus

    run = execution.start_plan_execution(plan_id=options["plan"], asset=options["asset"], actor=None, via="cli")
    command.stdout.write(f"execution run {run.pk} started: plan id {run.onchain_plan_id} on {run.recovery_executor}")
    if not options["follow"]:
        return
    last = ""
    while True:
        run = execution_selectors.get_run(run.pk)
        line = progress_line(run, execution_selectors.run_progress(run))
        if line != last:
            command.stdout.write(line)
            last = line
        if run.status in (ExecutionRunStatus.COMPLETED, ExecutionRunStatus.CANCELLED):
            return
        if run.status == ExecutionRunStatus.FAILED:
            raise CommandError(f"execution run {run.pk} failed: `plan status --plan {options['plan']}` shows why")
        time.sleep(1)


def handle_status(command: BaseCommand, options: dict[str, Any]) -> None:
    from recovery import execution_selectors
    from recovery.apis_execution import run_detail

    runs = list(execution_selectors.list_runs(plan_id=options["plan"]))
    if options["json"]:
        command.stdout.write(json.dumps([run_detail(run.pk) for run in runs], indent=2, default=str))
        return
    if not runs:
        command.stdout.write(f"plan {options['plan']} has no execution run (not approved on chain yet?)")
    for run in runs:
        progress = execution_selectors.run_progress(run)
        command.stdout.write(progress_line(run, progress))
        if run.pause_reason:
            command.stdout.write(f"  paused: {run.pause_reason}")
        for failure in progress["failures"]:
            command.stdout.write(f"  batch {failure['index']} failed: {failure['reason']}")
        for waiting in progress["waiting"]:
            command.stdout.write(
                f"  batch {waiting['index']} {waiting['state']} as {waiting['tx_hash']} (nonce {waiting['nonce']}, "
                f"{waiting['replacements']} replacements)"
            )


def handle_run_action(command: BaseCommand, options: dict[str, Any]) -> None:
    from recovery import execution

    action = {
        "pause": execution.pause_execution,
        "resume": execution.resume_execution,
        "cancel": execution.cancel_execution,
    }[options["run_action"]]
    run = action(run_id=options["run"], actor=None, via="cli")
    command.stdout.write(f"execution run {run.pk} is {run.status}")


def handle_reconcile(command: BaseCommand, options: dict[str, Any]) -> None:
    from recovery.execution_reconcile import reconcile_executions

    report = reconcile_executions().as_dict()
    if options["json"]:
        command.stdout.write(json.dumps(report))
        return
    done = {name: len(ids) for name, ids in report.items() if ids}
    command.stdout.write(
        "reconciled: " + (", ".join(f"{count} {name}" for name, count in done.items()) or "nothing to do")
    )
