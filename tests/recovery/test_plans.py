"""A stored plan runs on the real RecoveryExecutor: its commitment is what the contract checks,
its gas estimates bound the gas each batch uses, and every account ends up paid exactly."""

import pytest
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import bind
from chain.transact import reverts_as_chain_errors, send
from recovery import impact, plans, selectors
from recovery.models import Allocation, MigrationBatch
from tests.factories import UserFactory, analysed_exploit


def committee_client() -> APIClient:
    """An API client signed in as a member of the committee (who may build plans)."""
    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    return client


def _analysis(anvil, exploited):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited)


def approve_on_chain(w3: Web3, demo, timelock, plan_asset) -> None:
    """Approve ``plan_asset`` on the demo RecoveryExecutor as governance would (the calls' ten terms)."""
    plan = plan_asset.plan
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    pull = plan.delivery == "pull"
    count = (
        Allocation.objects.filter(plan_asset=plan_asset, amount__gt=0).count()
        if pull
        else MigrationBatch.objects.filter(plan_asset=plan_asset).count()
    )
    reverts_as_chain_errors(
        lambda: executor.functions.approvePlan(
            int(plan_asset.onchain_plan_id),
            plans.incident_key(plan.incident.chain_id, plan.incident_id),
            plan.version,
            plan_asset.allocation_root if pull else plan_asset.commitment_root,
            plan_asset.payout_token,
            plans.EXECUTOR_MODES[plan.mode],
            plans.EXECUTOR_DELIVERIES[plan.delivery],
            count,
            int(plan_asset.total_allocated),
            plan.claim_deadline or 0,
        ).transact({"from": timelock})
    )


def execute_batches_on_chain(w3: Web3, demo, executor_account, plan_asset, indexes=None) -> list[int]:
    """Send the stored batches (all, or ``indexes``) with their ``batch_proof``; the gas each used."""
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    batches = list(MigrationBatch.objects.filter(plan_asset=plan_asset).order_by("index"))
    assert selectors.commitment_for(plan_asset).root == plan_asset.commitment_root
    gas_used = []
    for batch in batches:
        if indexes is not None and batch.index not in indexes:
            continue
        receipt = send(
            w3,
            executor_account,
            executor.functions.executeBatch(
                int(plan_asset.onchain_plan_id),
                batch.index,
                batch.recipients,
                [int(a) for a in batch.amounts],
                selectors.batch_proof(plan_asset, batch.index),
            ),
            tx={"gas": batch.gas_estimate + 50_000},
        )
        gas_used.append(receipt["gasUsed"])
        assert receipt["gasUsed"] <= batch.gas_estimate, (batch.index, len(batch.recipients), receipt["gasUsed"])
    return gas_used


def _run_on_chain(w3: Web3, demo, timelock, executor_account, plan_asset) -> list[int]:
    approve_on_chain(w3, demo, timelock, plan_asset)
    return execute_batches_on_chain(w3, demo, executor_account, plan_asset)


@pytest.mark.django_db
def test_a_restitute_plan_pays_every_account_exactly_within_its_gas_estimates(
    anvil, w3, demo, exploited, deployer, timelock, executor_account
):
    analysis = _analysis(anvil, exploited)
    losses = sum(-row.delta for row in analysis.accounts.filter(delta__lt=0))
    budget = losses // 2 + 7
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="pro_rata",
        budgets={exploited["vault"]: str(budget)},
        gas_ceiling=400_000,
    )
    plan_asset = plan.assets.get()
    vault = bind(w3, "DemoVault", exploited["vault"])
    asset = bind(w3, "DemoAsset", exploited["asset"])
    # Recovered funds: vault shares held by the executor contract.
    send(w3, deployer, asset.functions.mint(deployer.address, budget))
    send(w3, deployer, asset.functions.approve(vault.address, budget))
    send(w3, deployer, vault.functions.deposit(budget, demo.address("recovery_executor")))
    before = {
        a.account: vault.functions.balanceOf(a.account).call() for a in Allocation.objects.filter(plan_asset=plan_asset)
    }

    gas = _run_on_chain(w3, demo, timelock, executor_account, plan_asset)

    assert len(gas) == MigrationBatch.objects.filter(plan_asset=plan_asset).count() > 1
    for allocation in Allocation.objects.filter(plan_asset=plan_asset):
        assert vault.functions.balanceOf(allocation.account).call() == before[allocation.account] + allocation.amount
    assert vault.functions.balanceOf(demo.address("recovery_executor")).call() == budget - plan_asset.total_allocated


@pytest.mark.django_db
def test_a_restore_plan_mints_each_balance_on_the_migrated_token_within_its_gas_estimates(
    anvil, w3, demo, exploited, timelock, executor_account
):
    analysis = _analysis(anvil, exploited)
    migrated = demo.address("migrated_vault_share")
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restore",
        policy="full",
        payout_tokens={exploited["vault"]: migrated},
        gas_ceiling=600_000,
        rpc_url=anvil.url,
    )
    plan_asset = plan.assets.get()
    _run_on_chain(w3, demo, timelock, executor_account, plan_asset)
    token = bind(w3, "RecoveryToken", migrated)
    vault = bind(w3, "DemoVault", exploited["vault"])
    for holder in demo.holders:
        was = vault.functions.balanceOf(holder).call(block_identifier=exploited["rollback_block"])
        assert token.functions.balanceOf(holder).call() == was


@pytest.mark.django_db
def test_an_explicit_claims_list_replaces_the_computed_claims(anvil, exploited, tmp_path):
    from django.core.management import call_command

    analysis = _analysis(anvil, exploited)
    victims = exploited["victims"][:3]
    path = tmp_path / "claims.csv"
    path.write_text("account,amount\n" + "".join(f"{v},{1000 * (i + 1)}\n" for i, v in enumerate(victims)))
    call_command(
        "plan",
        "build",
        "--analysis",
        str(analysis.pk),
        "--mode",
        "restitute",
        "--policy",
        "full",
        "--claims",
        f"{exploited['vault']}={path}",
    )
    allocations = dict(Allocation.objects.values_list("account", "amount"))
    assert allocations == {v: 1000 * (i + 1) for i, v in enumerate(victims)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("{a},5\n{a},6\n", "is listed twice (entries 1 and 2)"),
        ("{lower},5\n", "not checksummed"),
        ("{a},-5\n", "not a non-negative whole number"),
        ("{a},115792089237316195423570985008687907853269984665640564039457584007913129639936\n", "overflows uint256"),
    ],
)
def test_a_bad_claims_upload_is_refused_and_stores_nothing(anvil, exploited, rows, message):
    analysis = _analysis(anvil, exploited)
    account = exploited["victims"][0]
    text = "account,amount\n" + rows.format(a=account, lower=account.lower())
    client = committee_client()
    reply = client.post(
        f"/api/analyses/{analysis.pk}/plans/",
        {"mode": "restitute", "policy": "full", "claims": {exploited["vault"]: plans.read_claims_csv(text)}},
        format="json",
    )
    assert reply.status_code == 400, reply.content
    assert message in reply.json()["error"]["message"]
    assert not Allocation.objects.exists()


@pytest.mark.django_db
def test_parameter_changes_from_an_artifact_are_encoded_and_decode_back_for_display(anvil, exploited, demo):
    from rest_framework.test import APIClient

    analysis = _analysis(anvil, exploited)
    feed = demo.address("price_feed")
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="full",
        parameter_changes=[
            {"target": feed, "artifact": "DemoPriceFeed", "function": "setAnswer", "args": ["99000000"]},
            {"target": exploited["vault"], "signature": "transfer(address,uint256)", "args": [feed, "5"]},
        ],
    )
    set_answer, transfer = plan.parameter_changes
    assert set_answer["signature"] == "setAnswer(int256)"
    expected = bind(Web3(), "DemoPriceFeed", feed).encode_abi("setAnswer", args=[99_000_000])
    assert set_answer["calldata"] == expected
    client = APIClient()
    for body, shown in (
        ({"calldata": set_answer["calldata"], "artifact": "DemoPriceFeed"}, ["99000000"]),
        ({"calldata": transfer["calldata"], "abi": bind(Web3(), "DemoVault", feed).abi}, [feed, "5"]),
        ({"calldata": transfer["calldata"], "signature": "transfer(address,uint256)"}, [feed, "5"]),
    ):
        reply = client.post("/api/parameter-changes/decode/", body, format="json")
        assert reply.status_code == 200, reply.content
        assert reply.json()["args"] == shown
    refused = client.post(
        "/api/parameter-changes/decode/", {"calldata": "0xdeadbeef", "artifact": "DemoVault"}, format="json"
    )
    assert refused.status_code == 400
    unknown = client.post("/api/parameter-changes/decode/", {"calldata": "0x", "artifact": "Nope"}, format="json")
    assert unknown.status_code == 400 and "no compiled contract" in unknown.json()["error"]["message"]
    overloaded = {"target": feed, "artifact": "DemoPriceFeed", "function": "nothingLikeThis", "args": []}
    with pytest.raises(impact.InvalidInput, match="no function named"):
        plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", parameter_changes=[overloaded])
