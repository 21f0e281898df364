import json
import signal
import time
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chain.errors import ChainError
from config.preflight import ConfigurationError, load_role_account


class Command(BaseCommand):
    help = (
        "Start anvil from node_modules, deploy the demo protocol, seed holders and margin accounts, record the "
        "deployment (database and var/devchain.json), then keep the chain up until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        default_port = urlparse(settings.CHAIN_RPC_URL).port or 8545
        parser.add_argument(
            "--port",
            type=int,
            default=default_port,
            help=f"port on 127.0.0.1 (default {default_port}; 0 picks a free one)",
        )
        parser.add_argument(
            "--holders", type=int, default=settings.DEVCHAIN_HOLDERS, help="demo holders to seed (default %(default)s)"
        )
        parser.add_argument(
            "--margin-accounts",
            type=int,
            default=40,
            help="holders (the first ones) given margin accounts on the demo margin market (default %(default)s)",
        )
        parser.add_argument("--ready-file", default="", help="write this file once the chain is deployed and recorded")
        parser.add_argument("--no-wait", action="store_true", help="stop the chain and exit once deployed (for checks)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: web3 and the demo stack take most of a second to
        # import, and `devchain --help` needs none of it.
        from chain import devkeys
        from chain.anvil import Anvil
        from chain.demo import deploy_demo_stack, seed_holders, seed_margin_positions
        from chain.keys import load_account
        from chain.rpc import connect
        from recovery.services import record_deployment

        if options["holders"] < 0:
            raise CommandError("--holders must be 0 or more")
        if options["margin_accounts"] < 0:
            raise CommandError("--margin-accounts must be 0 or more")
        anvil = Anvil(port=options["port"], log_path=settings.VAR_DIR / "anvil.log")
        stopping = False

        def _stop(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            anvil.start()
            started = time.monotonic()
            w3 = connect(anvil.url)
            deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
            deployment = deploy_demo_stack(
                w3,
                rpc_url=anvil.url,
                deployer=deployer,
                executor=load_role_account("executor").address,
                committee=load_role_account("committee").address,
            )
            deployment = seed_holders(w3, deployment, deployer=deployer, count=options["holders"])
            margin_accounts = seed_margin_positions(
                w3, deployment, deployer=deployer, count=min(options["margin_accounts"], options["holders"])
            )
            row = record_deployment(deployment=deployment)
            settings.DEVCHAIN_STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
            settings.DEVCHAIN_STATE_FILE.write_text(
                json.dumps({"deployment_id": row.pk, **deployment.as_json()}, indent=2) + "\n"
            )
            self.stdout.write(
                f"dev chain {deployment.chain_id} on {anvil.url}: demo protocol deployed and {len(deployment.holders)} "
                f"holders seeded ({len(margin_accounts)} with margin accounts) in {time.monotonic() - started:.1f} s "
                f"(deployment {row.pk}, block {w3.eth.block_number})"
            )
            for role, contract in deployment.contracts.items():
                self.stdout.write(f"  {role:<22} {contract.address}  block {contract.block}")
            if options["ready_file"]:
                with open(options["ready_file"], "w") as ready:
                    ready.write(anvil.url + "\n")
            if options["no_wait"]:
                return
            self.stdout.write("dev chain running; Ctrl-C stops it")
            while not stopping and anvil.process is not None and anvil.process.poll() is None:
                time.sleep(0.5)
            if anvil.process is not None and anvil.process.poll() is not None and not stopping:
                raise CommandError(
                    f"anvil exited unexpectedly (code {anvil.process.returncode}); see {settings.VAR_DIR / 'anvil.log'}"
                )
        except (ChainError, ConfigurationError) as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            pass
        finally:
            anvil.stop()
            signal.signal(signal.SIGTERM, previous)
