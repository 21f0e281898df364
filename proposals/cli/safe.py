"""`proposal export-safe --proposal N --venue V [--safe 0x...] [--out FILE]`: the Safe Transaction Builder file."""

import json
from argparse import _SubParsersAction
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def add_parsers(sub: _SubParsersAction) -> None:
    export = sub.add_parser(
        "export-safe", help="write a proposal's calls as a Safe Transaction Builder batch file (checksummed)"
    )
    export.add_argument("--proposal", type=int, required=True)
    export.add_argument(
        "--venue", type=int, required=True, help="the venue whose RecoveryExecutor the plan approves on"
    )
    export.add_argument("--safe", default="", help="the Safe's EIP-55 address (meta.createdFromSafeAddress)")
    export.add_argument("--out", help="write the file here instead of printing it")
    export.set_defaults(handler=handle_export_safe)


def handle_export_safe(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.safe_export import export_safe_batch

    batch = export_safe_batch(proposal_id=options["proposal"], venue_id=options["venue"], safe_address=options["safe"])
    text = json.dumps(batch, indent=2, ensure_ascii=False)
    if not options["out"]:
        command.stdout.write(text)
        return
    path = Path(options["out"])
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None
    command.stdout.write(
        f"wrote {len(batch['transactions'])} transactions for chain {batch['chainId']} to {path}\n"
        f"  checksum: {batch['meta']['checksum']}"
    )
