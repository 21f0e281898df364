import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.cli import snapshot as snapshot_cli


class Command(BaseCommand):
    help = (
        "Venues a proposal is put to: `venue add governor --chain-id N --governor ADDR --recovery-executor ADDR`, "
        "`venue add snapshot --space S [--sequencer URL] [--hub URL] --recovery-executor ADDR [--approver ADDR] "
        "[--approver-kind key|safe]`, `venue list` (governors and Snapshot spaces), `venue probe ID|snapshot:ID|SPACE` "
        "(read the governor or the space again). Uses CHAIN_RPC_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add (or re-probe) a venue")
        kinds = add.add_subparsers(dest="kind", required=True)
        governor = kinds.add_parser("governor", help="an OpenZeppelin Governor v5")
        governor.add_argument("--chain-id", type=int, required=True, help="the chain the governor is on")
        governor.add_argument("--governor", required=True, help="the Governor's EIP-55 address")
        governor.add_argument(
            "--recovery-executor", required=True, help="the RecoveryExecutor its proposals approve plans on"
        )
        governor.add_argument("--json", action="store_true", help="print the venue as JSON")
        snapshot_cli.add_venue_parser(kinds)
        lister = sub.add_parser("list", help="every venue")
        lister.add_argument("--json", action="store_true")
        probe = sub.add_parser("probe", help="read a venue's governor (or Snapshot space) again and update it")
        probe.add_argument("venue_id", help="a governor venue's id, snapshot:ID or a Snapshot space id")
        probe.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from config.errors import LifeboatError
        from governance import services
        from governance.apis import VenueOutput
        from governance.venues import describe_venue
        from recovery.validation import parse_address

        rpc_url = settings.CHAIN_RPC_URL
        try:
            if options["action"] == "list":
                self._list(json_output=options["json"])
                return
            if options["action"] == "add" and options["kind"] == "snapshot":
                snapshot_cli.handle_add_venue(self, options)
                return
            if options["action"] == "add":
                if options["chain_id"] < 1:
                    raise CommandError(f"--chain-id {options['chain_id']} is not a chain id")
                governor = parse_address(options["governor"], field="governor")
                recovery_executor = parse_address(options["recovery_executor"], field="recovery_executor")
                self.stderr.write(f"probing the governor {governor} on chain {options['chain_id']} ...")
                venue = services.add_governor_venue(
                    chain_id=options["chain_id"],
                    governor=governor,
                    recovery_executor=recovery_executor,
                    rpc_url=rpc_url,
                )
            else:
                kind, venue_id = snapshot_cli.resolve_venue(options["venue_id"])
                if kind == "snapshot":
                    snapshot_cli.handle_probe_venue(self, venue_id=venue_id, json_output=options["json"])
                    return
                self.stderr.write(f"probing venue {venue_id} ...")
                venue = services.probe_governor_venue(venue_id=venue_id, rpc_url=rpc_url)
        except LifeboatError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(VenueOutput(venue).data, indent=2))
            return
        self.stdout.write(describe_venue(venue))
        self.stdout.write(
            f"  voting delay {venue.voting_delay}, period {venue.voting_period}, quorum {venue.quorum} "
            f"(at {venue.quorum_timepoint}), proposal threshold {venue.proposal_threshold}, "
            f"{'sequential' if venue.sequential_ids else 'hashed'} proposal ids; "
            f"{venue.executor} holds APPROVER_ROLE; probed at block {venue.probed_block} ({venue.probed_block_hash})"
        )

    def _list(self, *, json_output: bool) -> None:
        from governance import selectors, snapshot_selectors
        from governance.apis import VenueOutput
        from governance.apis_snapshot import SnapshotVenueOutput
        from governance.venues import describe_venue

        venues = list(selectors.list_governor_venues())
        spaces = list(snapshot_selectors.list_snapshot_venues())
        if json_output:
            rows = VenueOutput(venues, many=True).data + SnapshotVenueOutput(spaces, many=True).data
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for venue in venues:
            self.stdout.write(describe_venue(venue))
        for space in spaces:
            self.stdout.write(snapshot_cli.describe_snapshot_venue(space))
        if not venues and not spaces:
            self.stdout.write("no venues yet: `manage.py venue add governor ...` or `manage.py venue add snapshot ...`")
