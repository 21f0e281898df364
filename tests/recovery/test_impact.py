"""Impact and plans on anvil: the demo vault exploited, reconstructed, diffed, allocated,
committed, and looked up account by account — through services, commands, the API and a
real Celery worker."""

import csv
import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from eth_utils import to_checksum_address
from rest_framework.test import APIClient

from chain.artifacts import bind
from chain.balances import balances_at_two_blocks, read_balances
from recovery import impact, plans
from recovery.merkle import StandardMerkleTree
from recovery.models import (
    AccountImpact,
    Allocation,
    AnalysisStatus,
    ImpactAnalysis,
    Incident,
    MigrationBatch,
    RecoveryPlan,
)
from tests.factories import UserFactory
from tests.rpc_proxy import RpcProxy


def _request(anvil, exploited, **extra):
    """An analysis of the exploit, requested on a freshly opened incident."""
    return impact.request_impact(
        incident_id=_open(exploited).pk,
        rpc_url=anvil.url,
        rollback_block=exploited["rollback_block"],
        reference_block=exploited["reference_block"],
        **extra,
    )


def _open(exploited, **extra) -> Incident:
    return impact.open_incident(
        title="Demo vault drained",
        kind="protocol_exploit",
        chain_id=31337,
        affected_contracts=[exploited["vault"]],
        affected_tokens=[exploited["vault"], exploited["asset"]],
        exploit_transactions=[exploited["tx"]],
        exploiter_addresses=[exploited["attacker"], exploited["drainer"]],
        **extra,
    )


def test_reconstruction_at_both_blocks_equals_balance_of_for_every_account(anvil, exploited):
    for token in (exploited["vault"], exploited["asset"]):
        before, after = balances_at_two_blocks(
            anvil.url, token, exploited["rollback_block"], exploited["reference_block"]
        )
        accounts = set(before) | set(after)
        assert read_balances(anvil.url, token, accounts, exploited["rollback_block"]) == {
            a: before.get(a, 0) for a in accounts
        }
        assert read_balances(anvil.url, token, accounts, exploited["reference_block"]) == {
            a: after.get(a, 0) for a in accounts
        }
    vault_before, vault_after = balances_at_two_blocks(
        anvil.url, exploited["vault"], exploited["rollback_block"], exploited["reference_block"]
    )
    assert all(vault_after[v.lower()] == 0 < vault_before[v.lower()] for v in exploited["victims"])


@pytest.mark.django_db
def test_compute_impact_stores_every_account_and_summarises_the_damage(anvil, w3, exploited, demo):
    analysis = _request(anvil, exploited, from_block=exploited["from_block"], price_feed=demo.address("price_feed"))
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url, chunk=3)
    assert analysis.status == AnalysisStatus.COMPLETED
    vault = bind(w3, "DemoVault", exploited["vault"])
    rows = {r.account: r for r in AccountImpact.objects.filter(analysis=analysis, asset=exploited["vault"])}
    for holder in demo.holders:
        row = rows[holder]
        assert row.before == vault.functions.balanceOf(holder).call(block_identifier=exploited["rollback_block"])
        assert row.after == vault.functions.balanceOf(holder).call()
        assert row.delta == row.after - row.before
    summary = analysis.summary["assets"][exploited["vault"]]
    lost = sum(rows[v].before for v in exploited["victims"])
    assert summary["total_losses"] == str(lost)
    assert summary["losers"] == len(exploited["victims"])
    asset_summary = analysis.summary["assets"][exploited["asset"]]
    assert asset_summary["exploiter_gains"] == str(lost)  # shares were 1:1 with dUSD
    assert analysis.summary["price"] == {"answer": str(10**8), "decimals": 8}
    assert analysis.logs_done > 0
    assert analysis.blocks_done == analysis.blocks_total


@pytest.mark.django_db
def test_a_pro_rata_plan_sums_to_the_budget_and_each_account_can_prove_its_share(anvil, exploited, demo):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    losses = sum(-r.delta for r in AccountImpact.objects.filter(analysis=analysis, delta__lt=0))
    budget = losses * 2 // 3 + 1
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="pro_rata",
        budgets={exploited["vault"]: str(budget)},
        gas_ceiling=500_000,
    )
    plan_asset = plan.assets.get()
    amounts = list(Allocation.objects.filter(plan_asset=plan_asset).values_list("amount", flat=True))
    assert sum(amounts) + plan_asset.dust_total == budget
    assert exploited["attacker"] not in set(Allocation.objects.values_list("account", flat=True))
    batches = list(MigrationBatch.objects.filter(plan_asset=plan_asset))
    assert len(batches) > 1 and sum(b.total for b in batches) == sum(amounts)
    assert all(b.gas_estimate <= 500_000 for b in batches)

    client = APIClient()
    victim = exploited["victims"][0]
    reply = client.get(reverse("plan-account", args=[plan.pk, victim]))
    assert reply.status_code == 200, reply.content
    entry = reply.json()["assets"][0]
    assert int(entry["delta"]) < 0 and int(entry["allocation"]) > 0
    assert StandardMerkleTree.verify_proof(
        plan_asset.allocation_root,
        ["uint256", "address", "uint256"],
        [entry["leaf_index"], victim, int(entry["allocation"])],
        entry["proof"],
    )
    assert entry["allocation_root"] == plan_asset.allocation_root


def test_the_api_runs_an_analysis_on_a_real_worker(celery_worker, chain_settings, exploited, django_user_model):
    client = APIClient()
    client.force_authenticate(_user())
    created = client.post(
        reverse("incidents"),
        {
            "title": "Vault drained",
            "kind": "protocol_exploit",
            "chain_id": 31337,
            "affected_tokens": [exploited["vault"]],
            "exploiter_addresses": [exploited["attacker"]],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    started = client.post(
        reverse("incident-analyses", args=[created.json()["id"]]),
        {"rollback_block": exploited["rollback_block"], "reference_block": exploited["reference_block"]},
        format="json",
    )
    assert started.status_code == 202, started.content
    url = reverse("analysis", args=[started.json()["id"]])
    deadline = time.monotonic() + 60
    while (state := client.get(url).json())["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state["status"] == "completed", state
    assert state["summary"]["assets"][exploited["vault"]]["losers"] == len(exploited["victims"])
    losers = client.get(reverse("analysis-accounts", args=[state["id"]])).json()["results"]
    assert int(losers[0]["delta"]) <= int(losers[-1]["delta"]) and int(losers[0]["delta"]) < 0


@pytest.mark.django_db
def test_a_failing_node_leaves_no_rows_and_the_analysis_resumes(anvil, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    from chain.anvil import free_port
    from chain.errors import ChainError

    with pytest.raises(ChainError):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=f"http://127.0.0.1:{free_port()}")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "RpcUnavailable" in analysis.error
    assert AccountImpact.objects.filter(analysis=analysis).count() == 0
    assert impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url).status == AnalysisStatus.COMPLETED


@pytest.mark.django_db
def test_a_cancelled_analysis_stops_and_writes_nothing(anvil, exploited):
    analysis = _request(anvil, exploited)
    impact.cancel_impact(analysis_id=analysis.pk)
    assert impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url).status == AnalysisStatus.CANCELLED
    assert AccountImpact.objects.count() == 0


def test_the_ad_hoc_command_prints_json_and_writes_one_csv_row_per_account(anvil, exploited, tmp_path):
    out = StringIO()
    call_command(
        "impact",
        "compute",
        "--rpc",
        anvil.url,
        "--token",
        exploited["vault"],
        "--rollback-block",
        str(exploited["rollback_block"]),
        "--reference-block",
        str(exploited["reference_block"]),
        "--json",
        "--output",
        str(tmp_path / "impact.csv"),
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    with (tmp_path / "impact.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert summary["accounts_seen"] == len(rows)
    assert summary["affected"] == sum(1 for r in rows if r["delta"] != "0") == len(exploited["victims"])
    assert {r["address"] for r in rows if int(r["delta"]) < 0} == set(exploited["victims"])
    assert summary["seconds"] >= 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"affected_tokens": ["0x1234"]}, "affected_tokens[0]"),
        ({"affected_tokens": ["0x5fbdb2315678afecb367f032d93f642f64180aa3"]}, "affected_tokens[0]"),
        ({"exploiter_addresses": ["0x5FbDB2315678afecb367f032d93F642f64180AA3"]}, "exploiter_addresses[0]"),
        ({"exploit_transactions": ["0xabc"]}, "exploit_transactions"),
        ({"kind": "meteor"}, "kind"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_incidents_are_refused_with_a_clear_400_and_nothing_stored(body, field, django_user_model):
    client = APIClient()
    client.force_authenticate(_user())
    base = {"title": "x", "kind": "protocol_exploit", "chain_id": 31337}
    reply = client.post(reverse("incidents"), {**base, **body}, format="json")
    assert reply.status_code == 400
    assert reply.json()["error"]["detail"]["field"] == field
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_bad_analysis_requests_are_refused_before_anything_is_stored(
    chain_settings, exploited, demo, django_user_model
):
    client = APIClient()
    client.force_authenticate(_user())
    incident = _open(exploited)
    url = reverse("incident-analyses", args=[incident.pk])
    good = {"rollback_block": exploited["rollback_block"], "reference_block": exploited["reference_block"]}
    cases = [
        ({"rollback_block": exploited["reference_block"] + 1}, "after reference_block"),
        ({"reference_block": exploited["reference_block"] + 1000}, "past the chain head"),
        ({"assets": [demo.address("timelock")]}, "not an ERC-20"),
        ({"assets": [exploited["attacker"]]}, "no contract code"),
        ({"assets": ["0xnot-an-address"]}, "not an address"),
    ]
    for change, message in cases:
        reply = client.post(url, {**good, **change}, format="json")
        assert reply.status_code == 400, (change, reply.content)
        assert message in reply.json()["error"]["message"], reply.json()
    assert ImpactAnalysis.objects.count() == 0
    assert client.post(reverse("incident-analyses", args=[999]), good, format="json").status_code == 404


@pytest.mark.django_db
def test_bad_plans_are_refused_and_store_nothing(anvil, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    client = APIClient()
    url = reverse("analysis-plans", args=[analysis.pk])
    client.force_authenticate(_user())
    assert client.post(url, {"mode": "restitute", "policy": "full"}, format="json").status_code == 409
    impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    vault = exploited["vault"]
    cases = [
        ({"mode": "restitute", "policy": "pro_rata", "budgets": {vault: str(2**256)}}, "overflows uint256"),
        ({"mode": "restitute", "policy": "pro_rata"}, "needs a budget"),
        ({"mode": "restitute", "policy": "pro_rata", "budgets": {vault: "1.5"}}, "whole number"),
        ({"mode": "restitute", "policy": "full", "budgets": {vault: "1"}}, "budget"),
        ({"mode": "restitute", "policy": "full", "exclusions": [vault, vault]}, "twice"),
        (
            {
                "mode": "restitute",
                "policy": "full",
                "parameter_changes": [{"target": vault, "signature": "f(uint8)", "args": [300]}],
            },
            "out of range",
        ),
    ]
    for body, message in cases:
        reply = client.post(url, body, format="json")
        assert reply.status_code == 400, (body, reply.content)
        assert message in reply.json()["error"]["message"], reply.json()
    assert RecoveryPlan.objects.count() == 0
    ok = client.post(url, {"mode": "restitute", "policy": "full"}, format="json")
    assert ok.status_code == 201, ok.content
    unknown = to_checksum_address("0x" + "ab" * 20)
    assert client.get(reverse("plan-account", args=[ok.json()["id"], unknown])).status_code == 404


def _user():
    """A committee member."""
    return UserFactory(committee=True)


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_account_lookup():
    reply = APIClient().get(reverse("api-schema"), {"format": "json"})
    assert reply.status_code == 200
    paths = json.loads(reply.content)["paths"]
    assert "/api/plans/{plan_id}/accounts/{address}/" in paths
    assert "/api/incidents/{incident_id}/analyses/" in paths


@pytest.mark.django_db
def test_a_balance_changed_without_a_transfer_event_fails_the_cross_check(anvil, w3, exploited, demo):
    from eth_abi import encode
    from eth_utils import keccak

    holder = demo.holders[3]  # not drained: its shares are untouched by the exploit
    # OpenZeppelin's ERC20 keeps _balances at slot 0: write a balance no Transfer event explains.
    slot = keccak(encode(["address", "uint256"], [holder, 0]))
    w3.provider.make_request(
        "anvil_setStorageAt", [exploited["vault"], "0x" + slot.hex(), "0x" + (12345).to_bytes(32, "big").hex()]
    )
    w3.provider.make_request("evm_mine", [])
    incident = _open(exploited)
    analysis = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=anvil.url,
        rollback_block=exploited["rollback_block"],
        reference_block=w3.eth.block_number,
        assets=[exploited["vault"]],
    )
    from chain.errors import ReplayMismatch

    with pytest.raises(ReplayMismatch, match=f"first {holder.lower()}: replay"):
        impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "without Transfer events" in analysis.error
    assert AccountImpact.objects.filter(analysis=analysis).count() == 0


@pytest.mark.django_db
def test_a_completed_analysis_records_how_many_accounts_were_cross_checked(anvil, exploited):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    assert analysis.summary["cross_checked_accounts"] == {exploited["vault"].lower(): 24}


@pytest.mark.django_db
def test_vault_positions_are_valued_in_the_underlying_with_the_vaults_own_conversion(anvil, w3, exploited, demo):
    analysis = _request(anvil, exploited, assets=[exploited["vault"]], positions={exploited["vault"]: "vault_shares"})
    analysis = impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    vault = bind(w3, "DemoVault", exploited["vault"])
    rows = {r.account: r for r in AccountImpact.objects.filter(analysis=analysis, kind="position")}
    for holder in demo.holders:
        shares_then = vault.functions.balanceOf(holder).call(block_identifier=exploited["rollback_block"])
        assert rows[holder].before == vault.functions.convertToAssets(shares_then).call(
            block_identifier=exploited["rollback_block"]
        )
        assert rows[holder].after == vault.functions.convertToAssets(vault.functions.balanceOf(holder).call()).call()
    positions = analysis.summary["positions"][exploited["vault"]]
    assert positions["underlying"] == exploited["asset"] and positions["reader"] == "vault_shares"
    assert positions["losers"] == len(exploited["victims"])


@pytest.mark.django_db
def test_a_position_reader_that_does_not_fit_the_token_is_refused(anvil, exploited, demo):
    incident = _open(exploited)
    for positions, message in (
        ({exploited["asset"]: "vault_shares"}, "not a vault"),
        ({exploited["vault"]: "lp_tokens"}, "is not one of vault_shares"),
        ({demo.address("token"): "vault_shares"}, "not among the tracked assets"),
    ):
        with pytest.raises(impact.InvalidInput, match=message):
            impact.request_impact(
                incident_id=incident.pk,
                rpc_url=anvil.url,
                rollback_block=exploited["rollback_block"],
                reference_block=exploited["reference_block"],
                assets=[exploited["vault"], exploited["asset"]],
                positions=positions,
            )
    assert ImpactAnalysis.objects.count() == 0


class _DyingNode(RpcProxy):
    """Forwards to anvil, then drops every connection after ``logs_budget`` eth_getLogs
    requests: a node failing in the middle of a scan."""

    def __init__(self, upstream: str, logs_budget: int) -> None:
        self.logs_seen, self.logs_budget = 0, logs_budget
        super().__init__(upstream)

    def forward(self, body: bytes) -> bool:
        if b"eth_getLogs" not in body:
            return True
        self.logs_seen += 1
        return self.logs_seen <= self.logs_budget


@pytest.mark.django_db
def test_a_node_failing_mid_scan_keeps_the_checkpoint_and_the_resumed_analysis_matches_a_clean_one(
    anvil, exploited, demo
):
    from chain.errors import ChainError
    from chain.logs import scan_raw_transfers

    incident = _open(exploited)
    request = {
        "incident_id": incident.pk,
        "rpc_url": anvil.url,
        "rollback_block": exploited["rollback_block"],
        "reference_block": exploited["reference_block"],
        "from_block": demo.contracts["token"].block,
    }
    interrupted = impact.request_impact(**request)
    node = _DyingNode(anvil.url, logs_budget=25)
    try:
        with pytest.raises(ChainError):
            impact.compute_impact(analysis_id=interrupted.pk, rpc_url=node.url, chunk=1, checkpoint_seconds=0)
    finally:
        node.close()
    interrupted.refresh_from_db()
    assert interrupted.status == AnalysisStatus.FAILED
    assert interrupted.partial_state is not None
    assert 0 < interrupted.blocks_done < interrupted.blocks_total
    assert AccountImpact.objects.filter(analysis=interrupted).count() == 0

    resumed = impact.compute_impact(analysis_id=interrupted.pk, rpc_url=anvil.url, chunk=1)
    assert resumed.status == AnalysisStatus.COMPLETED
    every_log = sum(
        len(page.logs)
        for token in resumed.tracked_assets
        for page in scan_raw_transfers(anvil.url, token, request["from_block"], request["reference_block"])
    )
    assert resumed.logs_done == every_log  # no range applied twice, none skipped
    # A clean analysis of the same request (it starts from the snapshots the first one stored).
    clean = impact.compute_impact(analysis_id=impact.request_impact(**request).pk, rpc_url=anvil.url)
    fields = ("account", "asset", "kind", "before", "after", "delta")
    assert sorted(AccountImpact.objects.filter(analysis=resumed).values_list(*fields)) == sorted(
        AccountImpact.objects.filter(analysis=clean).values_list(*fields)
    )
    assert resumed.summary["assets"] == clean.summary["assets"]


@pytest.mark.django_db
def test_every_account_lookup_proof_equals_the_trees_own_proof(anvil, exploited):
    from recovery.selectors import account_position

    analysis = _request(anvil, exploited, assets=[exploited["vault"]])
    impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restore", policy="full", rpc_url=anvil.url)
    plan_asset = plan.assets.get()
    tree = StandardMerkleTree.load(plan_asset.allocation_dump)
    assert tree.root == plan_asset.allocation_root
    for allocation in Allocation.objects.filter(plan_asset=plan_asset):
        entry = account_position(plan_id=plan.pk, account=allocation.account)["assets"][0]
        assert entry["proof"] == tree.get_proof(allocation.leaf_index)
        assert entry["leaf"] == tree.leaf_hash([allocation.leaf_index, allocation.account, allocation.amount])


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_the_scan_stops_it_at_the_next_checkpoint_and_writes_no_rows(anvil, exploited, demo):
    analysis = _request(anvil, exploited, from_block=demo.contracts["token"].block)
    node = _DyingNode(anvil.url, logs_budget=10**9)
    original = node.server.RequestHandlerClass.do_POST

    def cancel_after_ten_pages(handler) -> None:
        if node.logs_seen == 10:
            # The committee cancels while the worker is scanning (another connection, as in production).
            impact.cancel_impact(analysis_id=analysis.pk)
        original(handler)

    node.server.RequestHandlerClass.do_POST = cancel_after_ten_pages
    try:
        result = impact.compute_impact(analysis_id=analysis.pk, rpc_url=node.url, chunk=1, checkpoint_seconds=0)
    finally:
        node.close()
    assert result.status == AnalysisStatus.CANCELLED
    assert 0 < result.blocks_done < result.blocks_total
    assert AccountImpact.objects.filter(analysis=analysis).count() == 0
    assert impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url).status == AnalysisStatus.CANCELLED
