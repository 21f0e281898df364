import json
from importlib import import_module
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    stealth_options = ("stdin",)  # `vote snapshot-submit --envelope -` reads it (call_command(..., stdin=...))
    help = (
        "Gasless votes on a published proposal: `vote typed-data --publication P --voter ADDR --support "
        "for|against|abstain [--reason TEXT]` prints the EIP-712 typed data to sign; `vote relay --signature-file "
        "FILE` checks a signed ballot and casts it from the relayer key. On Snapshot: `vote snapshot-typed-data "
        "--snapshot ID --voter ADDR --choice for|against|abstain [--reason R]`, `vote snapshot-submit --snapshot ID "
        "--envelope FILE|-`. Uses CHAIN_RPC_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        typed = sub.add_parser("typed-data", help="print the typed data a holder signs (eth_signTypedData_v4)")
        typed.add_argument("--publication", type=int, required=True, help="the publication (proposal on a governor)")
        typed.add_argument("--voter", required=True, help="the voter's EIP-55 address")
        typed.add_argument("--support", required=True, help="for, against or abstain")
        typed.add_argument("--reason", help="sign an ExtendedBallot with this reason")
        relay = sub.add_parser("relay", help="check a signed ballot and relay it to the governor")
        relay.add_argument(
            "--signature-file",
            required=True,
            type=Path,
            help="JSON: {publication, voter, support, nonce, signature, reason?} or {typed_data, signature}",
        )
        relay.add_argument("--publication", type=int, help="the publication, when the file does not name it")
        relay.add_argument("--json", action="store_true", help="print the relayed ballot as JSON")
        import_module("governance.cli.snapshot").add_vote_parsers(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from config.errors import LifeboatError
        from governance import ballots
        from governance.ballots_input import parse_reason, parse_support
        from recovery.validation import parse_address

        try:
            if options.get("handler") is not None:
                options["handler"](self, options)
                return
            if options["action"] == "typed-data":
                typed_data = ballots.ballot_typed_data(
                    publication_id=options["publication"],
                    voter=parse_address(options["voter"], field="voter"),
                    support=parse_support(options["support"]),
                    reason=parse_reason(options["reason"]),
                    rpc_url=settings.CHAIN_RPC_URL,
                )
                self.stdout.write(json.dumps(typed_data, indent=2))
                return
            self._relay(options, rpc_url=settings.CHAIN_RPC_URL)
        except LifeboatError as error:
            raise CommandError(error.message) from None

    def _relay(self, options: dict[str, Any], *, rpc_url: str) -> None:
        from governance import ballots, selectors
        from governance.apis_ballots import BallotOutput
        from governance.ballots_input import parse_signed_ballot
        from governance.models import BallotRelayStatus

        path: Path = options["signature_file"]
        try:
            payload = json.loads(path.read_text())
        except OSError as error:
            raise CommandError(f"--signature-file {path}: cannot read it ({error.strerror})") from None
        except ValueError as error:
            raise CommandError(f"--signature-file {path}: not JSON ({error})") from None
        signed = parse_signed_ballot(payload, publication_id=options["publication"])
        publication_id = signed.publication_id
        if publication_id is None and signed.proposal_id is not None and signed.governor and signed.chain_id:
            found = selectors.find_publication_for_ballot(
                chain_id=signed.chain_id, governor=signed.governor, proposal_id=signed.proposal_id
            )
            publication_id = found.pk if found else None
        if publication_id is None:
            raise CommandError(
                'the ballot names no publication Lifeboat knows: add "publication" to the file or pass --publication'
            )
        self.stderr.write(f"checking {signed.voter}'s ballot on publication {publication_id} against the chain ...")
        relay = ballots.relay_signed_ballot(signed, publication_id=publication_id, rpc_url=rpc_url)
        if options["json"]:
            self.stdout.write(json.dumps(BallotOutput(relay).data, indent=2))
            return
        if relay.status == BallotRelayStatus.RELAYED:
            self.stdout.write(
                f"ballot {relay.pk}: {relay.voter} voted {relay.support} with weight {relay.weight} in transaction "
                f"{relay.tx_hash} (block {relay.block_number}, {relay.block_hash})"
            )
        else:
            self.stdout.write(
                f"ballot {relay.pk}: sent in transaction {relay.tx_hash}, not yet mined; running this again (or the "
                "periodic task) finishes it"
            )
