from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

# Each module adds its subcommands (``add_parsers(sub)``), each with ``handler(command, options)``.
SUBCOMMAND_MODULES = (
    "recovery.cli.build",
    "recovery.cli.execute",
    "recovery.cli.verify",
)


class Command(BaseCommand):
    help = "Recovery plans, from building a version to paying it: `plan <action> --help` describes each action."

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
