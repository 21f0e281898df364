"""`proposal rehearse --proposal N --venue V [--json]`: run the rehearsal here, printing progress."""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def add_parsers(sub: _SubParsersAction) -> None:
    rehearse = sub.add_parser(
        "rehearse",
        help="run a proposal and every batch it approves on a fork of CHAIN_RPC_URL and check every balance",
    )
    rehearse.add_argument("--proposal", type=int, required=True, help="the proposal document's id")
    rehearse.add_argument("--venue", type=int, required=True, help="the governor venue's id (venue list)")
    rehearse.add_argument("--json", action="store_true", help="the stored rehearsal as JSON (progress to stderr)")
    rehearse.set_defaults(handler=handle_rehearse)


def handle_rehearse(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from proposals.rehearsals import rehearsal_path, rehearse_proposal

    # With --json, stdout carries only the JSON: progress goes to stderr.
    progress_to = command.stderr if options["json"] else command.stdout

    def progress(line: str) -> None:
        progress_to.write(f"  {line}")
        progress_to.flush()

    rehearsal = rehearse_proposal(
        proposal_id=options["proposal"], venue_id=options["venue"], rpc_url=settings.CHAIN_RPC_URL, progress=progress
    )
    if options["json"]:
        answer = {
            "rehearsal": rehearsal.pk,
            "proposal": rehearsal.proposal_id,
            "venue": rehearsal.venue_id,
            "status": rehearsal.status,
            "passed": rehearsal.passed,
            "content_hash": rehearsal.content_hash,
            "chain_id": rehearsal.chain_id,
            "fork_block": rehearsal.fork_block,
            "fork_block_hash": rehearsal.fork_block_hash,
            "summary": rehearsal.summary,
            "error": rehearsal.error,
            "report_hash": rehearsal.report_hash,
            "report": rehearsal.report,
            "url": rehearsal_path(rehearsal.pk),
        }
        command.stdout.write(json.dumps(answer, indent=2))
    else:
        command.stdout.write(
            f"rehearsal {rehearsal.pk} of proposal document {rehearsal.proposal_id} on venue {rehearsal.venue_id}: "
            f"{rehearsal.status.upper()}\n  {rehearsal.summary}\n  report: {rehearsal_path(rehearsal.pk)}"
        )
        for failure in (rehearsal.report or {}).get("failures", []):
            command.stdout.write(f"  - {failure}")
        for finding in (rehearsal.report or {}).get("findings", []):
            command.stdout.write(f"  finding: {finding}")
    if not rehearsal.passed:
        # A non-zero exit, so a script stops before signing or publishing.
        raise CommandError(f"rehearsal {rehearsal.pk} {rehearsal.status}: {rehearsal.summary}")
