from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

# Each module adds its subcommands (``add_parsers(sub)``), each with ``handler(command, options)``.
SUBCOMMAND_MODULES = (
    "proposals.cli.freeze",
    "proposals.cli.rehearse",
    "proposals.cli.signoff",
    "proposals.cli.safe",
    "governance.cli.publish",
    "governance.cli.follow",
    "governance.cli.snapshot",  # after publish and follow: widens their `publish` and `status`
)


class Command(BaseCommand):
    help = (
        "Proposal documents, from freezing a plan to the vote's outcome: "
        "`proposal <action> --help` describes each action."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name in SUBCOMMAND_MODULES:
            import_module(name).add_parsers(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: `--help` needs none of it.
        from config.errors import LifeboatError

        try:
            options["handler"](self, options)
        except LifeboatError as error:
            raise CommandError(error.message) from None
