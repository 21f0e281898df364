"""Following a Snapshot proposal with 20,000 votes: Lifeboat's cursor pagination against the naive skip loop.

    python benchmarks/snapshot_follow.py [--votes 20000] [--rounds 3] [--json OUT]

Starts its own anvil with the demo stack, a plan frozen into its document (rehearsal and
sign-off recorded, as publishing requires), and a local Snapshot hub (``snapshothub``) whose
demo-like space votes with erc20-votes on the demo token. The proposal is published through the
hub's sequencer by ``publish_to_snapshot``; ``--votes`` votes are then written into the hub's
database, each a real signed Vote (``seed_signed_votes``). Its own throwaway SQLite database and var
folder (a temporary directory). Then, on the same hub, in rounds, each in a rotated order:

- ``floor``: one GraphQL ``votes(first: 1000, where: {proposal, created_gt})`` query a page, by
  cursor, each body parsed for its last ``created`` and nothing else: the time to just page the
  votes;
- ``lifeboat``: ``follow_snapshot_proposal`` from an empty store (its stored votes and cursor
  are cleared before each round): the proposal's state and scores, every vote by cursor, each
  stored with its signature and exact voting power;
- ``skip``: the loop a user writes first, ``votes(first: 1000, skip: k * 1000)`` until the hub
  refuses a skip over 5,000: it stops at 6,000 votes whatever the proposal holds.

Each run records wall seconds, this process's CPU-seconds, the hub's and anvil's (from
``/proc``) and the rest of the machine's, the GraphQL queries made and the votes reached.
Checks: the floor and Lifeboat reach every vote, Lifeboat stores every one, and the skip loop
stops short at 6,000 with the hub's refusal.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_VAR = Path(tempfile.mkdtemp(prefix="lifeboat-snapshot-bench-"))
# Its own database and var folder, and the embedded mode on its own anvil: set before Django reads them.
os.environ["LIFEBOAT_VAR_DIR"] = str(_VAR)
os.environ["DATABASE_URL"] = f"sqlite:///{_VAR / 'bench.sqlite3'}"
os.environ["CELERY_BROKER_URL"] = "memory://"
for _name in ("CHAIN_RPC_URL", "CHAIN_ID"):
    os.environ.pop(_name, None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from cputime import Sample, describe, machine, measured, process_cpu_seconds  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from chain import devkeys  # noqa: E402
from chain.anvil import Anvil  # noqa: E402
from chain.artifacts import bind  # noqa: E402
from chain.demo import GOV_DECIMALS, deploy_demo_stack, exploit_vault, seed_holders  # noqa: E402
from chain.keys import load_account  # noqa: E402
from chain.rpc import connect  # noqa: E402
from chain.transact import send  # noqa: E402

PAGE = 1000
SKIP_LIMIT = 5000
HOLDERS = 8
LABELS = {
    "floor": "floor: one GraphQL query a page by cursor, parsed, nothing else",
    "lifeboat": "**Lifeboat** `follow_snapshot_proposal` (cursor; every vote stored with its exact power)",
    "skip": "naive `votes(first: 1000, skip: k*1000)`: stops at the hub's skip limit",
}
VOTES_QUERY = """
query Votes($proposal: String!, $first: Int!, $skip: Int!, $created: Int!) {
  votes(first: $first, skip: $skip, where: {proposal: $proposal, created_gt: $created},
        orderBy: "created", orderDirection: asc) {
    id voter created choice vp
  }
}
"""
SKIP_QUERY = """
query Votes($proposal: String!, $first: Int!, $skip: Int!) {
  votes(first: $first, skip: $skip, where: {proposal: $proposal}, orderBy: "created", orderDirection: asc) {
    id voter created choice vp
  }
}
"""


def demo_space(deployment: Any, *, author: str, period: int) -> dict[str, Any]:
    """A demo-like space: voting opens at creation and lasts ``period`` seconds; erc20-votes on the token."""
    network = str(deployment.chain_id)
    return {
        "id": settings.SNAPSHOT_SPACE,
        "name": "Lifeboat benchmark",
        "network": network,
        "admins": [author],
        "moderators": [],
        "members": [],
        "filters": {"minScore": 0, "onlyMembers": False},
        "voting": {"delay": 0, "period": period, "type": "basic", "quorum": 1},
        "strategies": [
            {
                "name": "erc20-votes",
                "network": network,
                "params": {"address": deployment.address("token"), "decimals": GOV_DECIMALS, "symbol": "LBT"},
            }
        ],
    }


def deploy_and_freeze(w3: Any, url: str) -> tuple[Any, Any]:
    """The demo stack with holders, its vault exploited, its impact computed, a plan frozen: (deployment, document)."""
    from proposals.services import freeze_proposal
    from recovery.impact import compute_impact, open_incident, request_impact
    from recovery.plans import build_plan
    from recovery.services import record_deployment

    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    attacker = load_account(private_key=devkeys.ATTACKER_KEY)
    deployment = deploy_demo_stack(
        w3,
        rpc_url=url,
        deployer=deployer,
        executor=load_account(private_key=devkeys.EXECUTOR_KEY).address,
        committee=load_account(private_key=devkeys.COMMITTEE_KEY).address,
    )
    deployment = seed_holders(w3, deployment, deployer=deployer, count=HOLDERS)
    record_deployment(deployment=deployment)
    rollback_block = w3.eth.block_number
    victims = [h for i, h in enumerate(deployment.holders) if i % 4 != 3]
    drainer, tx_hash = exploit_vault(w3, deployment, attacker=attacker, victims=victims)
    vault = deployment.address("vault")
    incident = open_incident(
        title="Benchmark vault drained",
        kind="protocol_exploit",
        chain_id=deployment.chain_id,
        affected_contracts=[vault],
        affected_tokens=[vault],
        detected_block=w3.eth.block_number,
        exploit_transactions=[tx_hash],
        exploiter_addresses=[attacker.address, drainer.address],
        opened_via="demo",
    )
    analysis = request_impact(
        incident_id=incident.pk,
        rpc_url=url,
        rollback_block=rollback_block,
        reference_block=w3.eth.block_number,
        from_block=deployment.contracts["token"].block,
        confirmation_depth=0,
    )
    analysis = compute_impact(analysis_id=analysis.pk, rpc_url=url)
    plan = build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    return deployment, document


def make_publishable(document: Any, deployment: Any, url: str) -> None:
    """A passed rehearsal and the committee's sign-off on the dev governor venue, as Snapshot publishing requires."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from governance.services import add_governor_venue
    from proposals.models import Rehearsal
    from proposals.signoff import signable_message
    from proposals.signoffs import get_signoff_subject, link_committee_member, submit_signoff
    from recovery.roles import COMMITTEE

    venue = add_governor_venue(
        chain_id=deployment.chain_id,
        governor=deployment.address("governor"),
        recovery_executor=deployment.address("recovery_executor"),
        rpc_url=url,
    )
    Rehearsal.objects.create(
        proposal=document,
        venue=venue,
        status="passed",
        content_hash=document.content_hash,
        chain_id=venue.chain_id,
        finished_at=timezone.now(),
    )
    subject = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk)
    users = get_user_model()
    for index, key in enumerate(devkeys.COMMITTEE_KEYS[: settings.SIGNOFF_THRESHOLD]):
        account = load_account(private_key=key)
        user = users.objects.create(username=f"bench-committee-{index}")
        user.groups.add(Group.objects.get(name=COMMITTEE))
        member, _ = link_committee_member(username=user.username, address=account.address)
        signature = account.sign_message(signable_message(subject.typed_data)).signature.to_0x_hex()
        submit_signoff(proposal_id=document.pk, venue_id=venue.pk, member=member, signature=signature, rpc_url=url)


def seed_signed_votes(db_path: Path, *, proposal_id: str, count: int) -> int:
    """``count`` votes written straight into the hub's store, each a real signed ``Vote`` message.

    ``snapshothub.seed.seed_votes(signed=True)``: voter ``i``'s key derived from ``i``, its vote one
    second after the previous one, choices For, Against, Abstain in turn, the id the message's
    EIP-712 digest, the signature the voter's — what Lifeboat's follower checks and accepts. The
    voters hold no votes on chain and their power on the hub is 0 too, so the hub's scores agree
    with Lifeboat's recount. Returns the number of votes written.
    """
    from snapshothub.evm import Evm
    from snapshothub.hub import Hub
    from snapshothub.seed import seed_votes
    from snapshothub.store import Store

    hub = Hub(store=Store(db_path), evm=Evm("http://127.0.0.1:1"), spaces={})
    return seed_votes(hub, proposal_id=proposal_id, count=count, signed=True)


def _post(session: requests.Session, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = session.post(url, json={"query": query, "variables": variables}, timeout=120)
    return response.json()


def floor(graphql_url: str, proposal_id: str) -> dict[str, Any]:
    """Every vote paged by cursor, a GraphQL query a page, nothing kept but the count.

    The cursor is ``created_gt`` the last page's last second minus one, with the ids already
    seen at that second dropped: votes sharing a second across two pages are neither lost nor
    counted twice (as long as fewer than a page share one second).
    """
    votes, queries, created = 0, 0, 0
    seen: set[str] = set()
    with requests.Session() as session:
        while True:
            variables = {"proposal": proposal_id, "first": PAGE, "skip": 0, "created": created - 1}
            page = _post(session, graphql_url, VOTES_QUERY, variables)["data"]["votes"]
            queries += 1
            fresh = [vote for vote in page if vote["id"] not in seen]
            votes += len(fresh)
            if len(page) < PAGE:
                return {"queries": queries, "votes": votes}
            if not fresh:
                raise RuntimeError(f"more than {PAGE} votes share the second {created}: the cursor cannot move")
            last = page[-1]["created"]
            at_last = {vote["id"] for vote in page if vote["created"] == last}
            seen = seen | at_last if last == created else at_last
            created = last


def naive_skip(graphql_url: str, proposal_id: str) -> dict[str, Any]:
    """``votes(first: 1000, skip: k * 1000)`` until a short page or the hub's refusal."""
    votes, queries, refusal = 0, 0, ""
    with requests.Session() as session:
        for k in range(10**6):
            answer = _post(session, graphql_url, SKIP_QUERY, {"proposal": proposal_id, "first": PAGE, "skip": k * PAGE})
            queries += 1
            if answer.get("errors"):
                refusal = answer["errors"][0].get("message", "")
                break
            page = answer["data"]["votes"]
            votes += len(page)
            if len(page) < PAGE:
                break
    return {"queries": queries, "votes": votes, "refusal": refusal}


def lifeboat(proposal_pk: int, url: str) -> dict[str, Any]:
    """One follow from an empty store: ``votes`` stored, ``read`` off the hub (a page's last second is read twice)."""
    from governance.models import SnapshotVote
    from governance.snapshot_following import follow_snapshot_proposal

    stats: dict[str, Any] = {}
    followed = follow_snapshot_proposal(snapshot_proposal_id=proposal_pk, rpc_url=url, stats=stats)
    return {
        "queries": stats["queries"],
        "read": stats["votes_read"],
        "votes": SnapshotVote.objects.filter(proposal_id=proposal_pk).count(),
        "error": followed.error,
    }


def forget_votes(proposal_pk: int) -> None:
    """The proposal as just published: no vote stored, the cursor at the start, the tally at zero."""
    from governance.models import SnapshotProposal, SnapshotVote

    SnapshotVote.objects.filter(proposal_id=proposal_pk).delete()
    SnapshotProposal.objects.filter(pk=proposal_pk).update(
        vote_cursor=0, votes_count=0, for_votes=0, against_votes=0, abstain_votes=0, followed_at=None
    )


def run(*, votes: int, rounds: int) -> dict[str, Any]:
    from config.preflight import load_role_account
    from governance.snapshot_publishing import publish_to_snapshot
    from governance.snapshot_venues import add_snapshot_venue
    from snapshothub.process import HubProcess

    info = machine()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with Anvil(port=0, log_path=_VAR / "anvil.log") as anvil:
        w3 = connect(anvil.url, timeout=300)
        deployment, document = deploy_and_freeze(w3, anvil.url)
        make_publishable(document, deployment, anvil.url)
        treasury = load_account(private_key=devkeys.DEPLOYER_KEY)
        send(w3, treasury, bind(w3, "LifeboatToken", deployment.address("token")).functions.delegate(treasury.address))
        w3.provider.make_request("anvil_mine", [hex(2)])  # type: ignore[arg-type]
        hub_db = _VAR / "hub.sqlite3"
        space = demo_space(deployment, author=load_role_account("proposer").address, period=7 * 24 * 3600)
        with HubProcess(anvil.url, [space], db_path=hub_db, log_path=_VAR / "hub.log") as hub:
            venue = add_snapshot_venue(
                space=space["id"],
                sequencer_url=hub.sequencer_url,
                hub_url=hub.graphql_url,
                recovery_executor=deployment.address("recovery_executor"),
                approver=load_account(private_key=devkeys.COMMITTEE_KEY).address,
                approver_kind="key",
                rpc_url=anvil.url,
            )
            published = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
            seed_signed_votes(hub_db, proposal_id=published.proposal_id, count=votes)
            generated = time.perf_counter() - started
            paths = {
                "floor": lambda: floor(hub.graphql_url, published.proposal_id),
                "lifeboat": lambda: lifeboat(published.pk, anvil.url),
                "skip": lambda: naive_skip(hub.graphql_url, published.proposal_id),
            }
            samples: dict[str, list[Sample]] = {name: [] for name in paths}
            results: dict[str, Any] = {}
            names = list(paths)
            anvil_pid = anvil.process.pid  # type: ignore[union-attr]
            for number in range(rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                for name in order:
                    if name == "lifeboat":
                        forget_votes(published.pk)
                    gc.collect()
                    gc.enable()
                    anvil_before = process_cpu_seconds(anvil_pid)
                    with measured(watch=hub.pid) as sample:
                        sample.extra["result"] = paths[name]()
                    sample.extra["anvil_cpu"] = process_cpu_seconds(anvil_pid) - anvil_before
                    # The machine's other CPU excludes this process and the hub; anvil is counted apart.
                    sample.other_cpu = max(0.0, sample.other_cpu - sample.extra["anvil_cpu"])
                    results[name] = sample.extra.pop("result")
                    samples[name].append(sample)
    checks = {
        "floor_reached_every_vote": results["floor"]["votes"] == votes,
        "lifeboat_stored_every_vote": results["lifeboat"]["votes"] == votes,
        "lifeboat_refused_none": not results["lifeboat"]["error"],
        "skip_stopped_at_the_limit": results["skip"]["votes"] == min(votes, SKIP_LIMIT + PAGE)
        and (votes <= SKIP_LIMIT + PAGE or bool(results["skip"]["refusal"])),
    }
    rows = []
    for name, runs in samples.items():
        rows.append(
            {
                "path": name,
                "wall": statistics.median(s.wall for s in runs),
                "cpu": statistics.median(s.cpu for s in runs),
                "hub_cpu": statistics.median(s.watched_cpu for s in runs),
                "anvil_cpu": statistics.median(s.extra["anvil_cpu"] for s in runs),
                "other_cpu": statistics.median(s.other_cpu for s in runs),
                "best_wall": min(s.wall for s in runs),
                "queries": results[name]["queries"],
                "votes": results[name]["votes"],
                "x_floor_paired": statistics.median(
                    s.wall / f.wall for f, s in zip(samples["floor"], runs, strict=True) if f.wall
                ),
                "cpu_x_floor_paired": statistics.median(
                    s.cpu / f.cpu for f, s in zip(samples["floor"], runs, strict=True) if f.cpu
                ),
                "extra": {k: v for k, v in results[name].items() if k not in ("queries", "votes")},
                "seconds_per_1000_votes": statistics.median(s.wall for s in runs)
                * 1000
                / max(1, results[name]["votes"]),
            }
        )
    return {
        "machine": info,
        "votes": votes,
        "rounds": rounds,
        "page": PAGE,
        "skip_refusal": results["skip"]["refusal"],
        "generation_seconds": generated,
        "rows": rows,
        "checks": checks,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['votes']:,} votes on one proposal, pages of {result['page']}, {result['rounds']} rounds (medians); "
        f"set-up (chain, plan, hub, publication, seeding) {result['generation_seconds']:.1f} s",
        "",
        "| path | votes reached | GraphQL queries | wall s | CPU s Python | CPU s hub | CPU s anvil | other CPU s "
        "| best wall s | x floor (wall) | x floor (CPU) | s per 1,000 votes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {LABELS[row['path']]} | {row['votes']:,} | {row['queries']} | {row['wall']:.3f} | {row['cpu']:.3f} | "
            f"{row['hub_cpu']:.3f} | {row['anvil_cpu']:.3f} | {row['other_cpu']:.3f} | {row['best_wall']:.3f} | "
            f"{row['x_floor_paired']:.2f}x | {row['cpu_x_floor_paired']:.2f}x | {row['seconds_per_1000_votes']:.3f} |"
        )
    lines.append("")
    if result["skip_refusal"]:
        lines.append(f"the hub's refusal that stopped the skip loop: {result['skip_refusal']}")
    lines.append("checks: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in result["checks"].items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=20_000, help="votes seeded on the proposal (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path, interleaved; medians reported")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    print(describe(machine()), flush=True)
    try:
        result = run(votes=args.votes, rounds=args.rounds)
    finally:
        import shutil

        shutil.rmtree(_VAR, ignore_errors=True)
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
