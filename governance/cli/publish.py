"""`proposal publish --proposal N --venue V [--json]`, `proposal queue --publication P [--json]`,
`proposal execute --publication P [--json]`.

Progress lines go to stdout, or to stderr with ``--json`` (stdout then holds only the JSON).
"""

import json
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand


def add_parsers(sub: _SubParsersAction) -> None:
    publish = sub.add_parser("publish", help="propose a signed-off document on a governor venue (idempotent)")
    publish.add_argument("--proposal", type=int, required=True, help="the proposal document's id")
    publish.add_argument("--venue", type=int, required=True, help="the governor venue's id")
    publish.add_argument("--json", action="store_true")
    publish.set_defaults(handler=handle_publish)
    for action, text in (
        ("queue", "queue a passed proposal on its governor's timelock (idempotent)"),
        ("execute", "execute a passed proposal and show the plans it approved (idempotent)"),
    ):
        parser = sub.add_parser(action, help=text)
        parser.add_argument("--publication", type=int, required=True)
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=handle_queue if action == "queue" else handle_execute)


def _progress(command: BaseCommand, options: dict[str, Any]) -> Any:
    out = command.stderr if options["json"] else command.stdout
    return lambda line: out.write(f"  {line}")


def handle_publish(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.publishing import publish_proposal

    publication = publish_proposal(
        proposal_id=options["proposal"],
        venue_id=options["venue"],
        rpc_url=settings.CHAIN_RPC_URL,
        progress=_progress(command, options),
    )
    answer = {
        "publication": publication.pk,
        "proposal": publication.document_id,
        "venue": publication.venue_id,
        "status": publication.status,
        "proposal_id": None if publication.proposal_id is None else str(publication.proposal_id),
        "tx_hash": publication.tx_hash,
        "created_block": publication.created_block,
        "created_block_hash": publication.created_block_hash,
        "description_hash": publication.description_hash,
        "calls": len(publication.actions),
        "vote_start": publication.vote_start,
        "vote_end": publication.vote_end,
    }
    if options["json"]:
        command.stdout.write(json.dumps(answer, indent=2))
        return
    command.stdout.write(
        f"publication {publication.pk}: proposal document {publication.document_id} on venue {publication.venue_id} "
        f"is {publication.status}\n"
        f"  proposal id: {answer['proposal_id']}\n"
        f"  propose tx: {publication.tx_hash} (block {publication.created_block} {publication.created_block_hash})\n"
        f"  vote: from {publication.vote_start} to {publication.vote_end} (the governor's clock)"
    )


def handle_queue(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.outcomes import queue_publication

    _write_step(
        command, options, queue_publication(publication_id=options["publication"], rpc_url=settings.CHAIN_RPC_URL)
    )


def handle_execute(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.outcomes import execute_publication

    step = execute_publication(publication_id=options["publication"], rpc_url=settings.CHAIN_RPC_URL)
    _write_step(command, options, step)


def _write_step(command: BaseCommand, options: dict[str, Any], step: Any) -> None:
    approvals = [
        {
            "plan_id": str(a.plan_id),
            "batches_root": a.batches_root,
            "token": a.token,
            "mode": a.mode,
            "batch_count": a.batch_count,
            "budget": str(a.budget),
        }
        for a in step.approvals
    ]
    if options["json"]:
        answer = {
            "publication": step.publication.pk,
            "action": step.action,
            "sent": step.sent,
            "tx_hash": step.tx_hash,
            "state": step.state,
            "approvals": approvals,
        }
        command.stdout.write(json.dumps(answer, indent=2))
        return
    verb = f"{step.action} sent" if step.sent else f"{step.action} already done"
    lines = [f"publication {step.publication.pk}: {verb} ({step.tx_hash}); the proposal is {step.state}"]
    lines += [
        f"  PlanApproved: plan {a['plan_id']} root {a['batches_root']} token {a['token']} mode {a['mode']} "
        f"batches {a['batch_count']} budget {a['budget']}"
        for a in approvals
    ]
    command.stdout.write("\n".join(lines))
