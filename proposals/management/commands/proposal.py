import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Proposal documents: `proposal freeze --plan N [--json]` freezes a plan version into its document."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        freeze = sub.add_parser("freeze", help="freeze a plan into its canonical proposal document (idempotent)")
        freeze.add_argument("--plan", type=int, required=True)
        freeze.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: `--help` needs none of these.
        from config.errors import LifeboatError
        from proposals.services import document_path, freeze_proposal

        try:
            proposal, created = freeze_proposal(plan_id=options["plan"], frozen_by=None)
        except LifeboatError as error:
            raise CommandError(error.message) from None
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
            self.stdout.write(json.dumps(answer, indent=2))
            return
        verb = "frozen" if created else "already frozen"
        self.stdout.write(
            f"plan {proposal.plan_id} {verb} as proposal document {proposal.pk} (version {proposal.version})\n"
            f"  content-hash: {proposal.content_hash}\n"
            f"  document: {document_path(proposal.pk)}"
        )
