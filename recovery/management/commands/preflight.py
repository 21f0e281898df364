from django.core.management.base import BaseCommand, CommandError

from config.preflight import ConfigurationError, check_configuration


class Command(BaseCommand):
    help = "Check the configuration (database, broker, chain, keys); exit 1 with one line naming a bad setting."

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = check_configuration()
        except ConfigurationError as error:
            raise CommandError(str(error)) from None
        roles = ", ".join(f"{role} {address}" for role, address in result.accounts.items())
        self.stdout.write(f"preflight ok: chain {result.chain_id} at block {result.head_block}; {roles}")
