from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import LifeboatError


class Command(BaseCommand):
    help = (
        "State snapshots: `snapshot take [--block N] [--commit]` archives every tracked balance at a confirmed block; "
        "`snapshot verify ID|SHA256` reloads the file and checks its hash, root and block hash (exit code 1 when "
        "it fails); `snapshot list` prints them all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        take = sub.add_parser("take", help="archive the tracked balances at a block")
        take.add_argument("--block", type=int, help="block number (default: the head less CONFIRMATION_DEPTH)")
        take.add_argument(
            "--commit", action="store_true", help="also commit the root to the SnapshotRegistry with the guardian key"
        )
        verify = sub.add_parser("verify", help="recompute a snapshot's hash and root and compare with the record")
        verify.add_argument("snapshot", help="the snapshot's id or its file's SHA-256")
        sub.add_parser("list", help="every snapshot, newest block first")

    def handle(self, *args: Any, **options: Any) -> None:
        from archive import selectors, services

        try:
            if options["action"] == "take":
                snapshot = services.take_snapshot(block=options["block"])
                self.stdout.write(
                    f"snapshot {snapshot.pk}: block {snapshot.block} ({snapshot.block_hash})\n"
                    f"  root    {snapshot.root}\n  sha256  {snapshot.sha256}\n"
                    f"  bytes   {snapshot.size_bytes}\n  leaves  {snapshot.leaf_count} "
                    f"({snapshot.account_count} accounts)\n  file    {snapshot.storage_name}"
                )
                if options["commit"]:
                    snapshot = services.commit_snapshot(snapshot=snapshot)
                    self.stdout.write(
                        f"  committed to {snapshot.registry} in tx {snapshot.commit_tx_hash} "
                        f"(block {snapshot.committed_block})"
                    )
            elif options["action"] == "verify":
                result = services.verify_snapshot(snapshot=selectors.get_snapshot(options["snapshot"]))
                snapshot = result.snapshot
                if not result.ok:
                    raise CommandError(
                        f"snapshot {snapshot.pk} FAILED verification:\n  " + "\n  ".join(result.problems), returncode=1
                    )
                checked = (
                    "and its block hash matches the chain"
                    if result.chain_checked
                    else ("(the node did not answer: the block hash was not checked against the chain)")
                )
                self.stdout.write(
                    f"snapshot {snapshot.pk} OK: sha256 {snapshot.sha256} and root {snapshot.root} recomputed "
                    f"from the file match the record, {checked}"
                )
            else:
                self._list(selectors.list_snapshots())
        except LifeboatError as error:
            raise CommandError(error.message) from None

    def _list(self, snapshots: Any) -> None:
        rows = [("id", "block", "accounts", "leaves", "bytes", "root", "sha256", "verified", "committed tx")]
        for s in snapshots:
            verified = "-" if s.verify_ok is None else ("ok" if s.verify_ok else "FAILED")
            rows.append(
                (
                    str(s.pk),
                    str(s.block),
                    str(s.account_count),
                    str(s.leaf_count),
                    str(s.size_bytes),
                    s.root,
                    s.sha256,
                    verified,
                    s.commit_tx_hash or "-",
                )
            )
        if len(rows) == 1:
            self.stdout.write("no state snapshots yet: `manage.py snapshot take`")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
