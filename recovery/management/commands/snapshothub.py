import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chain.redaction import redact_url
from config.preflight import ConfigurationError, load_role_account


class Command(BaseCommand):
    help = (
        "Run the local Snapshot hub (python -m snapshothub) for the embedded mode: the space SNAPSHOT_SPACE on the "
        "recorded dev deployment's token, on 127.0.0.1:SNAPSHOT_HUB_PORT, its database in VAR_DIR; until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=settings.SNAPSHOT_HUB_PORT, help="port on 127.0.0.1 (default %(default)s)"
        )
        parser.add_argument("--ready-file", default="", help="write the hub's base URL here once it listens")
        parser.add_argument("--period", type=int, default=300, help="the space's voting period in seconds")
        parser.add_argument("--quorum", type=float, default=1000.0, help="the space's quorum, in tokens")

    def space(self, *, chain_id: int, token: str, period: int, quorum: float) -> dict[str, Any]:
        """The embedded space: erc20-votes on the demo token; the proposer and the committee may propose."""
        authors = list(dict.fromkeys([load_role_account("proposer").address, load_role_account("committee").address]))
        return {
            "id": settings.SNAPSHOT_SPACE,
            "name": "Lifeboat demo",
            "network": str(chain_id),
            "symbol": "LBT",
            "admins": [],
            "moderators": [],
            "members": authors,
            "filters": {"minScore": 0, "onlyMembers": True},
            "voting": {"delay": 0, "period": period, "type": "basic", "quorum": quorum},
            "strategies": [
                {
                    "name": "erc20-votes",
                    "network": str(chain_id),
                    "params": {"address": token, "decimals": 18, "symbol": "LBT"},
                }
            ],
        }

    def handle(self, *args: Any, **options: Any) -> None:
        from recovery.selectors import get_current_deployment
        from snapshothub.process import HubProcess, HubStartError

        if options["period"] <= 0:
            raise CommandError("--period must be 1 second or more")
        deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
        if deployment is None:
            raise CommandError(
                f"no deployment is recorded for {redact_url(settings.CHAIN_RPC_URL)}: start the dev chain first "
                "(manage.py devchain, or make run)"
            )
        token = next((c.address for c in deployment.contracts.all() if c.role == "token"), None)
        if token is None:
            raise CommandError(f"deployment {deployment.pk} has no token contract: redeploy with manage.py devchain")
        try:
            space = self.space(
                chain_id=deployment.chain_id, token=token, period=options["period"], quorum=options["quorum"]
            )
        except ConfigurationError as error:
            raise CommandError(str(error)) from None
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        # The dev chain starts afresh with each `make run`: proposals of an earlier chain mean nothing on it.
        for stale in settings.VAR_DIR.glob("snapshothub.sqlite3*"):
            stale.unlink()
        hub = HubProcess(
            settings.CHAIN_RPC_URL,
            [space],
            db_path=settings.VAR_DIR / "snapshothub.sqlite3",
            log_path=settings.VAR_DIR / "snapshothub.log",
            port=options["port"],
        )
        stopping = False

        def _stop(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            hub.start()
            self.stdout.write(
                f"snapshot hub on {hub.url}: space {space['id']} (token {token}), sequencer {hub.sequencer_url}, "
                f"GraphQL {hub.graphql_url}"
            )
            if options["ready_file"]:
                with open(options["ready_file"], "w") as ready:
                    ready.write(hub.url + "\n")
            while not stopping and hub.process is not None and hub.process.poll() is None:
                time.sleep(0.5)
            if hub.process is not None and hub.process.poll() is not None and not stopping:
                log = settings.VAR_DIR / "snapshothub.log"
                raise CommandError(f"the snapshot hub exited (code {hub.process.returncode}); see {log}")
        except HubStartError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            pass
        finally:
            hub.stop()
            signal.signal(signal.SIGTERM, previous)
