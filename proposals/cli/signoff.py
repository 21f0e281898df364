"""Committee sign-off from the command line.

- ``proposal committee add --user NAME --address 0x...`` / ``remove --address 0x...`` / ``list [--json]``
- ``proposal sign --proposal N --venue V (--key-env VAR | --signature 0x... --signer 0x...) [--json]``
- ``proposal signoffs --proposal N --venue V [--verify | --typed-data] [--json]``

A key is never taken on the command line (it would stay in the shell history and the process
list): ``--key-env`` names the environment variable holding it. A wallet signs the typed data
``proposal signoffs --typed-data`` prints, and its signature is given with ``--signature``.
"""

import json
import os
from argparse import _SubParsersAction
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from eth_account.signers.local import LocalAccount


def add_parsers(sub: _SubParsersAction) -> None:
    committee = sub.add_parser("committee", help="link committee members (users in the committee role) to addresses")
    actions = committee.add_subparsers(dest="committee_action", required=True)
    add = actions.add_parser("add", help="link a user in the committee role to the address it signs with")
    add.add_argument("--user", required=True, help="the Django user name")
    add.add_argument("--address", required=True, help="EIP-55 address (an account or a contract wallet)")
    add.set_defaults(handler=handle_committee_add)
    remove = actions.add_parser("remove", help="deactivate an address: its sign-offs stop counting")
    remove.add_argument("--address", required=True)
    remove.set_defaults(handler=handle_committee_remove)
    listing = actions.add_parser("list", help="the committee's addresses")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=handle_committee_list)

    sign = sub.add_parser("sign", help="sign off a proposal document for a venue (EIP-712)")
    sign.add_argument("--proposal", type=int, required=True)
    sign.add_argument("--venue", type=int, required=True)
    how = sign.add_mutually_exclusive_group(required=True)
    how.add_argument("--key-env", metavar="VAR", help="sign with the private key in environment variable VAR")
    how.add_argument("--signature", help="a signature made elsewhere (a wallet), 0x-hex; needs --signer")
    sign.add_argument("--signer", help="the committee address that made --signature")
    sign.add_argument("--json", action="store_true")
    sign.set_defaults(handler=handle_sign)

    listed = sub.add_parser("signoffs", help="a document's sign-offs for a venue; --verify checks them all again")
    listed.add_argument("--proposal", type=int, required=True)
    listed.add_argument("--venue", type=int, required=True)
    what = listed.add_mutually_exclusive_group()
    what.add_argument("--verify", action="store_true", help="check every signature again (fails if one is invalid)")
    what.add_argument("--typed-data", action="store_true", help="print the EIP-712 typed data a wallet signs")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(handler=handle_signoffs)


def handle_committee_add(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.signoffs import link_committee_member

    member, created = link_committee_member(username=options["user"], address=options["address"])
    verb = "linked to" if created else "already linked to"
    command.stdout.write(f"{member.user.get_username()} {verb} committee address {member.address}")


def handle_committee_remove(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.signoffs import deactivate_committee_member

    member = deactivate_committee_member(address=options["address"])
    command.stdout.write(
        f"committee address {member.address} ({member.user.get_username()}) deactivated: its sign-offs no longer count"
    )


def handle_committee_list(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.signoffs import list_committee_members

    members = [
        {"user": m.user.get_username(), "address": m.address, "active": m.active} for m in list_committee_members()
    ]
    if options["json"]:
        command.stdout.write(json.dumps(members, indent=2))
        return
    for m in members:
        command.stdout.write(f"{m['address']}  {m['user']}{'' if m['active'] else '  (inactive)'}")
    if not members:
        command.stdout.write(
            "no committee addresses: link one with `proposal committee add --user NAME --address 0x...`"
        )


def handle_sign(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals import signoff
    from proposals.readiness import signoff_status
    from proposals.signoffs import get_signoff_subject, member_at, submit_signoff

    proposal_id, venue_id = options["proposal"], options["venue"]
    if options["key_env"]:
        if options["signer"]:
            raise CommandError("--signer goes with --signature; with --key-env the key's address signs")
        account = _account_from_env(options["key_env"])
        subject = get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
        member = member_at(account.address)
        signature = account.sign_message(signoff.signable_message(subject.typed_data)).signature.to_0x_hex()
    else:
        if not options["signer"]:
            raise CommandError("--signature needs --signer (the committee address that signed)")
        member, signature = member_at(options["signer"]), options["signature"]
    row = submit_signoff(
        proposal_id=proposal_id,
        venue_id=venue_id,
        member=member,
        signature=signature,
        rpc_url=settings.CHAIN_RPC_URL,
    )
    status = signoff_status(proposal_id=proposal_id, venue_id=venue_id)
    if options["json"]:
        answer = {
            "proposal": proposal_id,
            "venue": venue_id,
            "signer": row.signer,
            "kind": row.kind,
            "digest": row.digest,
            "signature": row.signature,
            "count": status["count"],
            "threshold": status["threshold"],
        }
        command.stdout.write(json.dumps(answer, indent=2))
        return
    command.stdout.write(
        f"proposal {proposal_id} signed off for venue {venue_id} by {row.signer} ({row.kind})\n"
        f"  digest: {row.digest}\n"
        f"  sign-offs: {status['count']} of {status['threshold']} needed"
    )


def _account_from_env(variable: str) -> LocalAccount:
    from chain.errors import KeyMaterialError
    from chain.keys import load_account

    # The one place this command reads the environment: the variable the operator named.
    key = os.environ.get(variable, "")
    if not key:
        raise CommandError(f"environment variable {variable} is not set (it must hold the signing key as 0x-hex)")
    try:
        return load_account(private_key=key)
    except KeyMaterialError as error:
        raise CommandError(f"environment variable {variable}: {error}") from None  # the message never holds the key


def handle_signoffs(command: BaseCommand, options: dict[str, Any]) -> None:
    from proposals.readiness import signoff_status
    from proposals.signoffs import get_signoff_subject, list_signoffs, verify_signoffs

    proposal_id, venue_id = options["proposal"], options["venue"]
    subject = get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
    if options["typed_data"]:
        command.stdout.write(json.dumps(subject.typed_data, indent=2))
        return
    if options["verify"]:
        results = verify_signoffs(proposal_id=proposal_id, venue_id=venue_id, rpc_url=settings.CHAIN_RPC_URL)
        rows = [
            {
                "signer": r.signoff.signer,
                "kind": r.signoff.kind,
                "valid": r.valid,
                "current": r.current,
                "reason": r.reason,
            }
            for r in results
        ]
        if options["json"]:
            command.stdout.write(json.dumps({"digest": subject.digest, "results": rows}, indent=2))
        else:
            for row in rows:
                verdict = "valid" if row["valid"] else f"INVALID: {row['reason']}"
                command.stdout.write(f"{row['signer']}  {row['kind']}  {verdict}")
        invalid = [row for row in rows if not row["valid"]]
        if invalid:
            raise CommandError(f"{len(invalid)} of {len(rows)} sign-offs do not verify")
        return
    status = signoff_status(proposal_id=proposal_id, venue_id=venue_id)
    rows = [
        {"signer": r.signer, "kind": r.kind, "signature": r.signature, "digest": r.digest}
        for r in list_signoffs(proposal_id=proposal_id, venue_id=venue_id)
    ]
    if options["json"]:
        command.stdout.write(
            json.dumps(
                {"typed_data": subject.typed_data, "digest": subject.digest, **status, "signoffs": rows}, indent=2
            )
        )
        return
    command.stdout.write(f"digest {subject.digest}: {status['count']} of {status['threshold']} sign-offs")
    for row in rows:
        command.stdout.write(f"  {row['signer']}  {row['kind']}  {row['signature']}")
