"""`proposal freeze --plan N [--json]`."""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand


def add_parsers(sub: _SubParsersAction) -> None:
    freeze = sub.add_parser("freeze", help="freeze a plan into its canonical proposal document (idempotent)")
    freeze.add_argument("--plan", type=int, required=True)
    freeze.add_argument("--json", action="store_true")
    freeze.set_defaults(handler=handle_freeze)


def handle_freeze(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.services import document_path, freeze_proposal

    proposal, created = freeze_proposal(plan_id=options["plan"], frozen_by=None)
    if options["json"]:
        answer = {
            "proposal": proposal.pk,
            "plan": proposal.plan_id,
            "version": proposal.version,
            "status": proposal.status,
            "content_hash": proposal.content_hash,
            "created": created,
            "document_url": document_path(proposal.pk),
        }
        command.stdout.write(json.dumps(answer, indent=2))
        return
    verb = "frozen" if created else "already frozen"
    command.stdout.write(
        f"plan {proposal.plan_id} {verb} as proposal document {proposal.pk} (version {proposal.version})\n"
        f"  content-hash: {proposal.content_hash}\n"
        f"  document: {document_path(proposal.pk)}"
    )
