"""The local Snapshot hub's GraphQL API and process handling, against a real hub process and anvil."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from config.preflight import load_role_account
from snapshothub.process import PROJECT_DIR, HubProcess, HubStartError
from tests.snapshot_hub import SPACE_ID, demo_space
from tests.snapshothub.hubclient import accepted, gql, post, proposal_envelope

pytestmark = pytest.mark.chain

PAGE = """query ($p: String!, $after: Int) {
  votes(first: 1000, where: {proposal: $p, created_gt: $after}, orderBy: "created", orderDirection: asc)
  { id created vp } }"""


def seed(hub: HubProcess, proposal_id: str, count: int, start_created: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "snapshothub", "seed-votes", "--db", str(hub.db_path), "--proposal", proposal_id,
         "--count", str(count), "--start-created", str(start_created)],
        capture_output=True, text=True, check=False, cwd=PROJECT_DIR, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"seeded {count} votes on {proposal_id}"


@pytest.fixture
def proposal_id(w3, snapshot_hub):
    return accepted(post(snapshot_hub, proposal_envelope(load_role_account("proposer"), snapshot=w3.eth.block_number)))


def test_first_over_1000_and_skip_over_5000_are_refused_with_the_real_messages(snapshot_hub):
    answer = gql(snapshot_hub, "{ votes(first: 1001) { id } }")
    assert answer["data"] == {"votes": None}
    assert [e["message"] for e in answer["errors"]] == ["The `first` argument must not be greater than 1000"]
    answer = gql(snapshot_hub, "{ votes(skip: 5001) { id } }")
    assert [e["message"] for e in answer["errors"]] == ["The `skip` argument must not be greater than 5000"]
    answer = gql(snapshot_hub, "{ proposals(first: -1) { id } }")
    assert [e["message"] for e in answer["errors"]] == ["The `first` argument must be positive"]
    ids = [f"0x{i:064x}" for i in range(101)]
    answer = gql(snapshot_hub, "query ($ids: [String]) { votes(where: {id_in: $ids}) { id } }", {"ids": ids})
    assert [e["message"] for e in answer["errors"]] == ["The `id_in` argument must not be greater than 100"]
    answer = gql(snapshot_hub, '{ votes(where: {voter: "0x123"}) { id } }')
    assert [e["message"] for e in answer["errors"]] == ["Invalid addresses in voter"]
    reply = requests.post(snapshot_hub.graphql_url, json={"query": "{ votes { nope } }"}, timeout=10)
    assert reply.status_code == 400 and "nope" in reply.json()["errors"][0]["message"]
    reply = requests.get(
        snapshot_hub.graphql_url, params={"query": "{ votes(first: 1000, skip: 5000) { id } }"}, timeout=10
    )
    assert reply.status_code == 200 and reply.json() == {"data": {"votes": []}}


def test_the_space_answers_with_its_settings(demo, snapshot_hub):
    space = gql(
        snapshot_hub,
        "query ($id: String!) { space(id: $id) { id network members filters { minScore onlyMembers } "
        "voting { delay period type quorum } strategies { name network params } } }",
        {"id": SPACE_ID},
    )["data"]["space"]
    expected = demo_space(demo)
    assert space["members"] == expected["members"] and space["network"] == "31337"
    assert space["voting"] == {"delay": None, "period": 6, "type": "basic", "quorum": 1000.0}
    assert space["filters"] == {"minScore": 0.0, "onlyMembers": True}
    assert space["strategies"] == expected["strategies"]
    assert gql(snapshot_hub, '{ space(id: "nobody.eth") { id } }')["data"] == {"space": None}
    assert requests.get(snapshot_hub.url + "/health", timeout=10).json()["spaces"] == [SPACE_ID]


def test_twenty_thousand_votes_page_by_created_gt_past_the_skip_limit(snapshot_hub, proposal_id):
    start = int(time.time())
    seed(snapshot_hub, proposal_id, 20_000, start)
    seen: dict[str, float] = {}
    after, queries = 0, 0
    while True:
        page = gql(snapshot_hub, PAGE, {"p": proposal_id, "after": after})["data"]["votes"]
        queries += 1
        if not page:
            break
        seen.update({v["id"]: v["vp"] for v in page})
        after = page[-1]["created"]
    assert len(seen) == 20_000 and queries == 21
    naive = gql(snapshot_hub, "query ($p: String!) { votes(first: 1000, skip: 6000, where: {proposal: $p}) { id } }",
                {"p": proposal_id})  # fmt: skip
    assert naive["errors"][0]["message"] == "The `skip` argument must not be greater than 5000"
    proposal = gql(
        snapshot_hub, "query ($id: String!) { proposal(id: $id) { votes scores_total } }", {"id": proposal_id}
    )
    assert proposal["data"]["proposal"]["votes"] == 20_000
    assert proposal["data"]["proposal"]["scores_total"] == pytest.approx(sum(seen.values()), rel=1e-12)
    messages = gql(
        snapshot_hub,
        'query ($ids: [String]) { messages(first: 100, where: {id_in: $ids, type: "vote"}) { id sig } }',
        {"ids": list(seen)[:100]},
    )["data"]["messages"]
    assert len(messages) == 100 and all(len(m["sig"]) == 132 for m in messages)


def test_proposals_filter_by_space_and_state(snapshot_hub, proposal_id):
    listed = gql(
        snapshot_hub,
        'query ($s: String!) { proposals(where: {space: $s, state: "active"}) { id state } }',
        {"s": SPACE_ID},
    )["data"]["proposals"]
    assert listed in ([{"id": proposal_id, "state": "active"}], [])
    listed = gql(snapshot_hub, '{ proposals(where: {space_in: ["nobody.eth"]}) { id } }')["data"]["proposals"]
    assert listed == []


def test_a_hub_that_cannot_start_says_why_with_its_log_tail(anvil, tmp_path):
    hub = HubProcess(anvil.url, [{"id": "broken.eth", "strategies": [{"name": "erc20-votes", "params": {}}]}])
    with pytest.raises(HubStartError, match=r"exited with code 2[\s\S]*needs params.address"):
        hub.start()
    hub.stop()


def test_the_hub_process_stops_by_pid(anvil, demo):
    hub = HubProcess(anvil.url, [demo_space(demo)]).start()
    pid = hub.pid
    assert requests.get(hub.url + "/health", timeout=10).status_code == 200
    # The node's URL (credentials and all, on a real one) is in its environment, not in `ps`.
    assert anvil.url not in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    hub.stop()
    assert hub.process is not None and hub.process.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.django_db
def test_the_management_command_refuses_without_a_recorded_deployment(settings, tmp_path):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError, match=r"no deployment is recorded for http://127\.0\.0\.1:1"):
        call_command("snapshothub", "--port", "0", "--ready-file", str(tmp_path / "ready"))
    assert not Path(tmp_path / "ready").exists()
