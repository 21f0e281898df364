"""``manage.py escape-hatch build|list|verify``: the self-contained withdraw page per deployment.

(The module's name has a hyphen so the command reads ``escape-hatch``; Django imports command
modules by name with ``importlib``, which takes it.)
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import LifeboatError
from recovery.escape_hatch import build_escape_hatch, list_builds, verify_escape_hatch
from recovery.models import Deployment
from recovery.selectors import get_current_deployment


class Command(BaseCommand):
    help = (
        "The escape hatch: `escape-hatch build [--deployment ID] [--out DIR]` writes one self-contained HTML file "
        "(withdraw from the vault with a browser wallet, no server) and prints its SHA-256; `escape-hatch list` "
        "prints the recorded builds; `escape-hatch verify FILE` checks a copy against them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        build = sub.add_parser("build", help="write the deployment's page and record its SHA-256")
        build.add_argument(
            "--deployment", type=int, help="recorded deployment id (default: the current one for CHAIN_RPC_URL)"
        )
        build.add_argument("--out", type=Path, help="folder to write into (default: var/escape-hatch/)")
        sub.add_parser("list", help="every recorded build: deployment, file, SHA-256, size, when, by whom")
        verify = sub.add_parser("verify", help="recompute FILE's SHA-256 and compare it with the recorded builds")
        verify.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except LifeboatError as error:
            raise CommandError(error.message) from None

    def _build(self, options: dict[str, Any]) -> None:
        deployment = _deployment(options["deployment"])
        built = build_escape_hatch(deployment=deployment, out_dir=options["out"])
        note = "recorded" if built.created else f"identical to build {built.build.pk}, recorded before"
        self.stdout.write(f"wrote {built.path} ({built.build.size} bytes) for deployment {deployment.pk}; {note}")
        self.stdout.write(f"sha256 {built.build.sha256}")

    def _list(self, options: dict[str, Any]) -> None:
        builds = list_builds()
        if not builds:
            self.stdout.write("no escape-hatch build recorded yet: `manage.py escape-hatch build`")
            return
        for build in builds:
            by = build.created_by.get_username() if build.created_by else "the command line"
            self.stdout.write(
                f"build {build.pk}  deployment {build.deployment_id} (chain {build.deployment.chain_id})  "
                f"{build.name}  sha256 {build.sha256}  {build.size} bytes  "
                f"{build.created_at.isoformat(timespec='seconds')}  by {by}"
            )

    def _verify(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file: give the path of a downloaded escape-hatch page")
        result = verify_escape_hatch(path)
        self.stdout.write(f"sha256 {result.sha256}  {result.size} bytes  {path}")
        if result.ok:
            for build in result.matches:
                self.stdout.write(
                    f"OK: matches build {build.pk} of deployment {build.deployment_id} "
                    f"(chain {build.deployment.chain_id}, {build.name})"
                )
            return
        if result.same_name:
            recorded = ", ".join(f"build {b.pk}: {b.sha256}" for b in result.same_name)
            raise CommandError(
                f"MISMATCH: {path.name} was recorded with another SHA-256 ({recorded}); this copy was altered "
                "or is not the published one: do not use it"
            )
        raise CommandError(
            f"UNKNOWN: no recorded build has SHA-256 {result.sha256}; this file was not built here "
            "(compare it with the hash the committee published)"
        )


def _deployment(deployment_id: int | None) -> Deployment:
    if deployment_id is not None:
        found = Deployment.objects.filter(pk=deployment_id).prefetch_related("contracts").first()
        if found is None:
            raise CommandError(f"there is no deployment {deployment_id} (the home page lists the current one)")
        return found
    current = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    if current is None:
        raise CommandError(
            "no deployment is recorded for CHAIN_RPC_URL: start the dev chain (`make run`) or pass --deployment ID"
        )
    return current
