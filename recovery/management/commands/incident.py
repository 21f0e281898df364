import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.models import IncidentKind


class Command(BaseCommand):
    help = "Incidents: `incident open --title ... --kind ... --token ADDRESS ...` (--json for scripts)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        opener = sub.add_parser("open", help="open an incident")
        opener.add_argument("--title", required=True)
        opener.add_argument("--kind", required=True, choices=IncidentKind.values)
        opener.add_argument("--chain-id", type=int, default=None, help="default: CHAIN_ID, else 31337 (the dev chain)")
        opener.add_argument("--contract", action="append", default=[], help="affected contract (repeatable)")
        opener.add_argument("--token", action="append", default=[], help="affected token (repeatable)")
        opener.add_argument("--detected-block", type=int, default=None)
        opener.add_argument("--exploit-tx", action="append", default=[], help="exploit transaction hash (repeatable)")
        opener.add_argument("--exploiter", action="append", default=[], help="exploiter address (repeatable)")
        opener.add_argument("--description", default="")
        opener.add_argument("--json", action="store_true", help="print the incident as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: `--help` needs none of these (web3, DRF: most of a second).
        from config.errors import LifeboatError
        from recovery.impact import open_incident

        try:
            incident = open_incident(
                title=options["title"],
                kind=options["kind"],
                chain_id=options["chain_id"] if options["chain_id"] is not None else settings.CHAIN_ID or 31337,
                affected_contracts=options["contract"],
                affected_tokens=options["token"],
                detected_block=options["detected_block"],
                exploit_transactions=options["exploit_tx"],
                exploiter_addresses=options["exploiter"],
                description=options["description"],
                opened_via="cli",
            )
        except LifeboatError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"id": incident.pk, "title": incident.title, "kind": incident.kind, "status": incident.status}
                )
            )
        else:
            self.stdout.write(f"opened incident {incident.pk}: {incident.title} ({incident.kind})")
