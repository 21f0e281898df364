"""`proposal status --publication P [--json] [--follow]`."""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand


def add_parsers(sub: _SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="a published proposal's state, tally, quorum, deadline and approvals, as followed from the chain"
    )
    status.add_argument("--publication", type=int, required=True)
    status.add_argument("--follow", action="store_true", help="follow the chain once first (uses CHAIN_RPC_URL)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=handle_status)


def handle_status(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.following import follow_publication, proposal_status

    if options["follow"]:
        command.stderr.write(f"following publication {options['publication']} on the chain ...")
        follow_publication(publication_id=options["publication"], rpc_url=settings.CHAIN_RPC_URL)
    status = proposal_status(publication_id=options["publication"], rpc_url=settings.CHAIN_RPC_URL)
    if options["json"]:
        command.stdout.write(json.dumps(status, indent=2))
        return
    command.stdout.write("\n".join(describe_status(status)))


def describe_status(status: dict[str, Any]) -> list[str]:
    tally = status["tally"]
    unit = status["clock_unit"]
    lines = [
        f"publication {status['publication']}: proposal {status['proposal_id']} on governor {status['governor']} "
        f"(chain {status['chain_id']})",
        f"  state: {status['state'] or 'not followed yet'}"
        + (f" (followed to block {status['followed_block']})" if status["followed_block"] is not None else ""),
        f"  tally: for {tally['for']}, against {tally['against']}, abstain {tally['abstain']} "
        f"({status['votes']} votes)",
    ]
    if status["quorum"] is not None:
        reached = "reached" if status["quorum_reached"] else "not reached"
        lines.append(
            f"  quorum at the snapshot ({status['vote_start']}): {status['quorum']}; counted (for + abstain) "
            f"{status['quorum_counted']}, {status['quorum_progress_percent']}%, {reached}"
        )
    else:
        lines.append("  quorum: not known yet (the snapshot is not in the past, or the node did not answer)")
    if status["vote_end"] is not None:
        left = f", {status['time_left']} {unit} left" if status["time_left"] is not None else ""
        lines.append(f"  deadline: {status['vote_end']} ({unit}){left}")
    if status["eta"] is not None:
        lines.append(f"  eta: {status['eta']}")
    for approval in status["approvals"]:
        lines.append(
            f"  plan {approval['onchain_plan_id']} approved at block {approval['block_number']}: "
            f"{approval['batch_count']} batches, budget {approval['budget']} of {approval['token']}"
        )
    if status["error"]:
        lines.append(f"  error: {status['error']}")
    return lines
