"""The Snapshot venue on the command line.

`proposal publish --proposal N --venue SPACE` (an integer ``--venue`` stays a governor venue's id;
``snapshot:ID`` names a Snapshot venue by id), `proposal status --snapshot ID [--follow] [--json]`
(``--publication P`` keeps working), `proposal approve --snapshot ID [--json]`; and for `vote`:
`vote snapshot-typed-data --snapshot ID --voter ADDR --choice for|against|abstain [--reason R]`,
`vote snapshot-submit --snapshot ID --envelope FILE|-`. The venue command's `venue add snapshot`
uses ``add_venue_parser`` and ``handle_add_venue``.

The `publish` and `status` actions are the governor's (governance/cli/publish.py and follow.py);
this module, loaded after them, widens their options and dispatches on them. Progress lines go to
stdout, or to stderr with ``--json`` (stdout then holds only the JSON). URLs are shown redacted.
"""

import json
import sys
from argparse import Action, ArgumentParser, _SubParsersAction
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

SNAPSHOT_PREFIX = "snapshot:"


def add_parsers(sub: _SubParsersAction) -> None:
    """Widen `publish` and `status` (already added by the governor's modules) and add `approve`."""
    publish = _existing_parser(sub, "publish")
    venue = _existing_option(publish, "venue")
    venue.type = None  # a text: a governor venue's id, a space, or snapshot:ID (``resolve_venue``)
    venue.help = "a governor venue's id, a Snapshot space id (e.g. lifeboat.eth), or snapshot:ID for a Snapshot venue"
    publish.set_defaults(handler=handle_publish)

    status = _existing_parser(sub, "status")
    publication = _existing_option(status, "publication")
    publication.required = False  # either it or --snapshot (``handle_status``)
    publication.help = "a publication on a governor"
    _existing_option(status, "follow").help = "follow the chain (a governor) or the hub (Snapshot) once first"
    status.add_argument("--snapshot", type=int, help="a proposal published to a Snapshot space")
    status.set_defaults(handler=handle_status)

    approve = sub.add_parser(
        "approve", help="approve the plan of a passed Snapshot proposal on the RecoveryExecutor (idempotent)"
    )
    approve.add_argument("--snapshot", type=int, required=True, help="the Snapshot proposal's id")
    approve.add_argument("--json", action="store_true")
    approve.set_defaults(handler=handle_approve)


def _existing_parser(sub: _SubParsersAction, name: str) -> ArgumentParser:
    parser = sub.choices.get(name)
    if parser is None:
        raise RuntimeError(f"governance.cli.snapshot extends `proposal {name}`: load it after the module adding it")
    return parser


def _existing_option(parser: ArgumentParser, dest: str) -> Action:
    """The option ``dest`` another module added to ``parser`` (argparse lists actions only privately)."""
    for action in parser._actions:
        if action.dest == dest:
            return action
    raise RuntimeError(f"`{parser.prog}` has no option {dest}: governance.cli.snapshot expected it")


def _progress(command: BaseCommand, options: dict[str, Any]) -> Any:
    out = command.stderr if options.get("json") else command.stdout
    return lambda line: out.write(f"  {line}")


def _write_json(command: BaseCommand, answer: Any) -> None:
    command.stdout.write(json.dumps(answer, indent=2, default=str))


# --- proposal publish ---


def resolve_venue(venue: str) -> tuple[str, int]:
    """``("governor", id)`` for an integer, ``("snapshot", id)`` for ``snapshot:ID`` or a Snapshot space id.

    ``SnapshotVenueNotFound`` (404) when no Snapshot venue has that space or id;
    ``SnapshotVenueAmbiguous`` (400) when several do (one per hub), naming the ``snapshot:ID`` forms to use.
    """
    from governance import snapshot_selectors
    from governance.snapshot_errors import SnapshotVenueAmbiguous, SnapshotVenueNotFound
    from recovery.exceptions import InvalidInput

    text = venue.strip()
    if text.isascii() and text.isdigit():
        return "governor", int(text)
    if text.startswith(SNAPSHOT_PREFIX):
        number = text[len(SNAPSHOT_PREFIX) :]
        if not (number.isascii() and number.isdigit()):
            raise InvalidInput(f"--venue {venue!r}: after snapshot: comes a Snapshot venue's id", field="venue")
        return "snapshot", snapshot_selectors.get_snapshot_venue(int(number)).pk
    matches = list(snapshot_selectors.list_snapshot_venues().filter(space=text))
    if not matches:
        raise SnapshotVenueNotFound(
            f"there is no Snapshot venue for the space {text!r}: add it with `manage.py venue add snapshot --space "
            f"{text} --recovery-executor ADDR` (or name a governor venue by its id)",
            space=text,
        )
    if len(matches) > 1:
        choices = ", ".join(f"{SNAPSHOT_PREFIX}{v.pk} (hub {_redact(v.hub_url)})" for v in matches)
        raise SnapshotVenueAmbiguous(
            f"the space {text!r} is a venue on {len(matches)} hubs; say which with --venue {choices}",
            space=text,
            venues=[v.pk for v in matches],
        )
    return "snapshot", matches[0].pk


def handle_publish(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.cli import publish as governor_publish
    from governance.snapshot_publishing import publish_to_snapshot

    kind, venue_id = resolve_venue(str(options["venue"]))
    if kind == "governor":
        governor_publish.handle_publish(command, {**options, "venue": venue_id})
        return
    published = publish_to_snapshot(
        proposal_id=options["proposal"],
        venue_id=venue_id,
        rpc_url=settings.CHAIN_RPC_URL,
        progress=_progress(command, options),
    )
    answer = snapshot_proposal_answer(published)
    if options["json"]:
        _write_json(command, answer)
        return
    command.stdout.write(
        f"snapshot proposal {published.pk}: proposal document {published.document_id} in the space "
        f"{published.venue.space} is {published.status}\n"
        f"  id: {published.proposal_id} (ipfs {published.ipfs or '-'})\n"
        f"  author: {published.author}; snapshot block {published.snapshot} ({published.snapshot_block_hash})\n"
        f"  vote: from {published.start} to {published.end} (unix seconds)"
        + (f"\n  error: {published.error}" if published.error else "")
    )


def snapshot_proposal_answer(published: Any) -> dict[str, Any]:
    """A Snapshot proposal's row as the API answers it."""
    from governance.apis_snapshot import SnapshotProposalOutput

    return dict(SnapshotProposalOutput(published).data)


# --- proposal status ---


def handle_status(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.cli import follow as governor_follow

    if (options.get("publication") is None) == (options.get("snapshot") is None):
        raise CommandError("name one proposal: --publication P (on a governor) or --snapshot ID (on Snapshot)")
    if options.get("publication") is not None:
        governor_follow.handle_status(command, options)
        return
    from governance.snapshot_following import follow_snapshot_proposal, snapshot_proposal_summary
    from governance.snapshot_selectors import get_snapshot_proposal

    snapshot_proposal_id = options["snapshot"]
    if options["follow"]:
        command.stderr.write(f"following snapshot proposal {snapshot_proposal_id} on its hub ...")
        proposal = follow_snapshot_proposal(snapshot_proposal_id=snapshot_proposal_id, rpc_url=settings.CHAIN_RPC_URL)
    else:
        proposal = get_snapshot_proposal(snapshot_proposal_id)
    summary = {**snapshot_proposal_summary(proposal), "approval": snapshot_approval_answer(proposal)}
    if options["json"]:
        _write_json(command, summary)
        return
    command.stdout.write("\n".join(describe_snapshot_status(proposal, summary)))


def snapshot_approval_answer(proposal: Any) -> dict[str, Any] | None:
    """The proposal's approval as the API answers it (transactions without raw bytes), or None."""
    from governance.apis_snapshot import SnapshotApprovalOutput
    from governance.models.snapshot import SnapshotApproval

    approval = SnapshotApproval.objects.filter(proposal=proposal).first()
    return None if approval is None else dict(SnapshotApprovalOutput(approval).data)


def describe_snapshot_status(proposal: Any, summary: dict[str, Any]) -> list[str]:
    """The lines of `proposal status --snapshot`, from the row and its summary (``snapshot_proposal_summary``)."""
    tally = summary["tally"]
    left = summary.get("seconds_left") or 0
    lines = [
        f"snapshot proposal {proposal.pk}: {proposal.proposal_id or '(not on the hub yet)'} in the space "
        f"{proposal.venue.space} (chain {proposal.venue.chain_id}), {proposal.status}",
        f"  state: {summary['state'] or 'not followed yet'}"
        + (f" (followed at {summary['followed_at']})" if summary.get("followed_at") else " (not followed yet)"),
        f"  vote: from {proposal.start} to {proposal.end} (unix seconds)" + (f", {left} s left" if left else ""),
        f"  tally (exact, base units): for {tally['for']}, against {tally['against']}, abstain {tally['abstain']} "
        f"({summary['votes']} votes), snapshot block {proposal.snapshot}",
    ]
    if summary.get("hub_scores"):
        scores = ", ".join(str(score) for score in summary["hub_scores"])
        lines.append(
            f"  hub's scores: {scores} (total {proposal.scores_total or '-'}, {summary['scores_state'] or '-'})"
        )
    reached = "reached" if summary["quorum_met"] else "not reached"
    share = Decimal(summary["quorum_progress"]) * 100
    lines.append(f"  quorum: {summary['total']} of {summary['quorum']} voted ({share:.2f}% of it), {reached}")
    outcome = summary.get("outcome")
    reason = summary.get("outcome_reason")
    lines.append(
        f"  outcome: {outcome}" + (f" ({reason})" if reason else "") if outcome else "  outcome: not decided yet"
    )
    approval = summary.get("approval")
    if approval is not None:
        lines.append(f"  approval: {approval['status']} by the {approval['approver_kind']} {approval['approver']}")
        lines += [
            f"    approvePlan of plan {tx.get('onchain_plan_id')}: {tx.get('tx_hash')}"
            for tx in approval["transactions"]
        ]
    if summary.get("error"):
        lines.append(f"  error: {summary['error']}")
    return lines


# --- proposal approve ---


def handle_approve(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.apis_snapshot import SnapshotApprovalOutput
    from governance.snapshot_approval import approve_passed_proposal

    if not options["json"]:
        command.stdout.write(f"approving the plan of snapshot proposal {options['snapshot']} ...")
    approval = approve_passed_proposal(snapshot_proposal_id=options["snapshot"], rpc_url=settings.CHAIN_RPC_URL)
    answer = dict(SnapshotApprovalOutput(approval).data)
    if options["json"]:
        _write_json(command, answer)
        return
    lines = [
        f"snapshot proposal {approval.proposal_id}: approval {approval.status} by the {approval.approver_kind} "
        f"{approval.approver}"
    ]
    lines += [
        f"  approvePlan of plan {tx.get('onchain_plan_id')} ({tx.get('plan_asset')}): {tx.get('tx_hash')}"
        + (f" in block {tx['block_number']}" if tx.get("block_number") is not None else "")
        for tx in answer["transactions"]
    ]
    if approval.safe_batch is not None:
        lines.append(
            f"  the Safe's owners execute the Transaction Builder batch: GET /api/snapshot/proposals/"
            f"{approval.proposal_id}/approval/ (safe_batch), or `proposal approve --snapshot {approval.proposal_id} "
            "--json`"
        )
    if approval.error:
        lines.append(f"  error: {approval.error}")
    command.stdout.write("\n".join(lines))


# --- venue add snapshot ---


def add_venue_parser(kinds: _SubParsersAction) -> None:
    """`venue add snapshot ...` (the venue command's ``add`` subparsers)."""
    snapshot = kinds.add_parser("snapshot", help="a Snapshot space whose passed proposals an approver carries out")
    snapshot.add_argument("--space", required=True, help="the space id, e.g. lifeboat.eth")
    snapshot.add_argument("--sequencer", help="where signed messages are posted (default SNAPSHOT_SEQUENCER_URL)")
    snapshot.add_argument("--hub", help="the hub's GraphQL endpoint (default SNAPSHOT_HUB_URL)")
    snapshot.add_argument("--recovery-executor", required=True, help="the RecoveryExecutor the plans are approved on")
    snapshot.add_argument("--approver", help="who sends approvePlan (default: the committee key's address)")
    snapshot.add_argument(
        "--approver-kind", choices=["key", "safe"], default="key", help="a key Lifeboat holds or a Safe"
    )
    snapshot.add_argument("--json", action="store_true", help="print the venue as JSON")


def handle_add_venue(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.apis_snapshot import snapshot_venue_arguments
    from governance.snapshot_venues import add_snapshot_venue

    arguments = snapshot_venue_arguments(
        {
            "space": options["space"],
            "sequencer_url": options["sequencer"],
            "hub_url": options["hub"],
            "recovery_executor": options["recovery_executor"],
            "approver": options["approver"],
            "approver_kind": options["approver_kind"],
        }
    )
    command.stderr.write(f"reading the space {arguments['space']} from the hub {_redact(arguments['hub_url'])} ...")
    _show_venue(command, add_snapshot_venue(**arguments, rpc_url=settings.CHAIN_RPC_URL), json_output=options["json"])


def handle_probe_venue(command: BaseCommand, *, venue_id: int, json_output: bool) -> None:
    """`venue probe snapshot:ID|SPACE`: read the space again from its hub and update the venue."""
    from django.conf import settings

    from governance.snapshot_venues import probe_snapshot_venue

    command.stderr.write(f"reading Snapshot venue {venue_id}'s space again ...")
    _show_venue(
        command, probe_snapshot_venue(venue_id=venue_id, rpc_url=settings.CHAIN_RPC_URL), json_output=json_output
    )


def _show_venue(command: BaseCommand, venue: Any, *, json_output: bool) -> None:
    from governance.apis_snapshot import SnapshotVenueOutput

    if json_output:
        _write_json(command, dict(SnapshotVenueOutput(venue).data))
        return
    command.stdout.write(describe_snapshot_venue(venue))
    command.stdout.write(
        f"  voting delay {venue.voting_delay} s, period {venue.voting_period} s, type {venue.voting_type or 'any'}, "
        f"quorum {venue.quorum} (the hub's {venue.hub_quorum or '0'}), token {venue.token or '-'} "
        f"({venue.token_decimals} decimals); {len(venue.authors)} authors"
        + (", only members propose" if venue.only_members else "")
    )


def describe_snapshot_venue(venue: Any) -> str:
    """One line naming a Snapshot venue, its URLs redacted."""
    return (
        f"snapshot venue {venue.pk}: space {venue.space} ({venue.name or 'unnamed'}) on chain {venue.chain_id}, "
        f"hub {_redact(venue.hub_url)}, sequencer {_redact(venue.sequencer_url)}, RecoveryExecutor "
        f"{venue.recovery_executor}, approver ({venue.approver_kind}) {venue.approver}"
    )


def _redact(url: str) -> str:
    from chain.redaction import redact_url

    return redact_url(url)


# --- vote snapshot-typed-data, vote snapshot-submit ---


def add_vote_parsers(sub: _SubParsersAction) -> None:
    """The `vote` command's Snapshot actions."""
    typed = sub.add_parser("snapshot-typed-data", help="print the Snapshot Vote a holder signs (eth_signTypedData_v4)")
    typed.add_argument("--snapshot", type=int, required=True, help="the Snapshot proposal's id")
    typed.add_argument("--voter", required=True, help="the voter's EIP-55 address")
    typed.add_argument("--choice", required=True, help="for, against or abstain")
    typed.add_argument("--reason", default="", help="the vote's reason")
    typed.set_defaults(handler=handle_vote_typed_data)
    submit = sub.add_parser("snapshot-submit", help="check a signed Snapshot vote and forward it to the sequencer")
    submit.add_argument("--snapshot", type=int, required=True, help="the Snapshot proposal's id")
    submit.add_argument(
        "--envelope",
        required=True,
        help="JSON file with {address, sig, data: {domain, types, message}}, or - for stdin",
    )
    submit.add_argument("--json", action="store_true", help="print the hub's answer as JSON")
    submit.set_defaults(handler=handle_vote_submit)


def handle_vote_typed_data(command: BaseCommand, options: dict[str, Any]) -> None:
    from governance.apis_snapshot import parse_choice, parse_reason
    from governance.snapshot_selectors import get_snapshot_proposal
    from governance.snapshot_votes import vote_typed_data
    from recovery.validation import parse_address

    voter = parse_address(options["voter"], field="voter")
    choice = parse_choice(options["choice"])
    reason = parse_reason(options["reason"])
    get_snapshot_proposal(options["snapshot"])
    typed_data = vote_typed_data(snapshot_proposal_id=options["snapshot"], voter=voter, choice=choice, reason=reason)
    _write_json(command, typed_data)


def read_envelope(source: str, *, stdin: Any = None) -> dict[str, Any]:
    """The JSON object in the file ``source`` (``-``: standard input); ``CommandError`` naming what is wrong."""
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise CommandError(f"--envelope {source}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise CommandError(f"--envelope {source}: not UTF-8 text") from None
    try:
        envelope = json.loads(text)
    except ValueError as error:
        raise CommandError(f"--envelope {source}: not JSON ({error})") from None
    if not isinstance(envelope, dict):
        raise CommandError(
            f"--envelope {source}: expected the signed envelope, a JSON object {{address, sig, data}}; "
            f"got a JSON {type(envelope).__name__}"
        )
    return envelope


def handle_vote_submit(command: BaseCommand, options: dict[str, Any]) -> None:
    from django.conf import settings

    from governance.snapshot_selectors import get_snapshot_proposal
    from governance.snapshot_votes import submit_vote

    envelope = read_envelope(options["envelope"], stdin=options.get("stdin"))
    get_snapshot_proposal(options["snapshot"])
    if not options["json"]:
        command.stderr.write(f"checking the vote on snapshot proposal {options['snapshot']} and forwarding it ...")
    answer = submit_vote(snapshot_proposal_id=options["snapshot"], envelope=envelope, rpc_url=settings.CHAIN_RPC_URL)
    if options["json"]:
        _write_json(command, answer)
        return
    command.stdout.write(
        f"vote {answer.get('id')}: {answer.get('voter')} chose {answer.get('choice')} with voting power "
        f"{answer.get('vp')} (ipfs {answer.get('ipfs') or '-'})"
    )
