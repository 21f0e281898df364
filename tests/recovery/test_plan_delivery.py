"""How a plan pays (push, push with the claimable fallback, pull), the RecoveryExecutor its leaves are
bound to, the incident key, and version N paying net of what earlier versions already paid on chain."""

import time

import pytest
from eth_abi import encode
from eth_utils import keccak
from rest_framework.test import APIClient

from chain.artifacts import bind
from chain.demo import fund_recovery_executor, holder_account
from chain.transact import send
from recovery import plans, selectors
from recovery.exceptions import InvalidInput
from recovery.merkle import StandardMerkleTree
from recovery.models import Allocation, Deployment, MigrationBatch
from tests.factories import UserFactory, analysed_exploit
from tests.recovery.test_plans import approve_on_chain, execute_batches_on_chain


def committee_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    return client


def _analysis(anvil, exploited):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited)


def test_the_incident_key_is_the_abi_encoding_the_contract_documents():
    expected = "0x" + keccak(encode(["string", "uint256", "uint256"], ["lifeboat-incident", 31337, 7])).hex()
    assert plans.incident_key(31337, 7) == expected
    assert plans.incident_key(31337, 8) != expected and plans.incident_key(1, 7) != expected


@pytest.mark.django_db
def test_delivery_defaults_to_push_fallback_for_restitute_and_shows_in_the_api(anvil, demo, exploited):
    analysis = _analysis(anvil, exploited)
    client = committee_client()
    reply = client.post(f"/api/analyses/{analysis.pk}/plans/", {"mode": "restitute", "policy": "full"}, format="json")
    assert reply.status_code == 201, reply.content
    body = reply.json()
    assert body["delivery"] == "push_fallback" and body["claim_deadline"] is None
    assert body["recovery_executor"] == demo.address("recovery_executor")  # the recorded deployment's
    assert body["auto_execute"] is False
    assert body["incident_key"] == plans.incident_key(31337, analysis.incident_id)
    summary = body["summary"]
    assert summary["delivery"] == "push_fallback" and summary["incident_key"] == body["incident_key"]
    (entry,) = summary["assets"].values()
    assert entry["gas"]["push"] > 0 and entry["gas"]["pull"] == entry["recipients"] * plans.GAS_PER_CLAIM
    assert entry["paid_by_earlier_versions"] == {"total": "0", "accounts": 0}
    detail = client.get(f"/api/plans/{body['id']}/").json()
    assert detail["delivery"] == "push_fallback" and detail["incident_key"] == body["incident_key"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "restore", "delivery": "push_fallback"}, "a restore plan mints: choose push or pull"),
        ({"delivery": "pull"}, "a pull plan needs its claim deadline"),
        ({"delivery": "pull", "claim_days": 3, "claim_deadline": 4_000_000_000}, "not both"),
        ({"delivery": "pull", "claim_deadline": 1_000}, "must be in the future"),
        ({"delivery": "push", "claim_days": 3}, "applies to pull delivery only"),
        ({"recovery_executor": "0xnot-an-address"}, "recovery_executor"),
    ],
)
def test_a_bad_delivery_is_a_clear_400_and_stores_nothing(anvil, exploited, body, message):
    analysis = _analysis(anvil, exploited)
    data = {"mode": "restitute", "policy": "full", **body}
    reply = committee_client().post(f"/api/analyses/{analysis.pk}/plans/", data, format="json")
    assert reply.status_code == 400, reply.content
    assert message in reply.json()["error"]["message"]
    assert not Allocation.objects.exists()


@pytest.mark.django_db
def test_without_a_recorded_deployment_the_executor_must_be_given(anvil, demo, exploited):
    analysis = _analysis(anvil, exploited)
    Deployment.objects.all().delete()
    with pytest.raises(InvalidInput, match="no RecoveryExecutor is recorded for chain 31337"):
        plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    other = holder_account(300).address
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", recovery_executor=other)
    asset = plan.assets.get()
    assert plan.recovery_executor == other
    # The leaves are bound to it: the commitment rebuilt under that domain is the stored one.
    assert selectors.commitment_for(asset).root == asset.commitment_root
    assert selectors.commitment_domain(asset).recovery_executor == other


@pytest.mark.django_db
def test_a_pull_plan_stores_no_batches_and_every_holder_claims_exactly_within_the_claim_estimate(
    anvil, w3, demo, exploited, deployer, timelock
):
    analysis = _analysis(anvil, exploited)
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="pull", claim_days=7)
    assert plan.delivery == "pull" and plan.claim_deadline >= int(time.time()) + 7 * 86_400 - 60
    asset = plan.assets.get()
    assert not MigrationBatch.objects.filter(plan_asset=asset).exists() and asset.commitment_root == ""
    assert plan.summary["assets"][asset.asset]["gas"]["push_batches"] >= 1  # what a push would have cost
    fund_recovery_executor(w3, demo, deployer=deployer, token=asset.payout_token, amount=int(asset.total_allocated))
    approve_on_chain(w3, demo, timelock, asset)
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    vault = bind(w3, "DemoVault", asset.payout_token)
    claimer = holder_account(301)
    w3.provider.make_request("anvil_setBalance", [claimer.address, hex(10**18)])
    client = APIClient()
    used = []
    for allocation in Allocation.objects.filter(plan_asset=asset).order_by("leaf_index"):
        position = client.get(f"/api/plans/{plan.pk}/accounts/{allocation.account}/").json()["assets"][0]
        leaf = [position["leaf_index"], allocation.account, int(position["allocation"])]
        assert StandardMerkleTree.verify_proof(
            asset.allocation_root, plans.ALLOCATION_LEAF_ENCODING, leaf, position["proof"]
        )
        before = vault.functions.balanceOf(allocation.account).call()
        receipt = send(w3, claimer, executor.functions.claim(int(asset.onchain_plan_id), *leaf, position["proof"]))
        used.append(receipt["gasUsed"])
        assert vault.functions.balanceOf(allocation.account).call() - before == allocation.amount
    # The first claim also writes the plan's bitmap word and paid total from zero.
    assert used and max(used[1:]) <= plans.GAS_PER_CLAIM and sum(used) <= plans.GAS_PER_CLAIM * len(used), used


@pytest.mark.django_db
def test_version_two_pays_net_of_what_version_one_already_paid_on_chain(
    anvil, w3, demo, exploited, deployer, timelock, executor_account, chain_settings
):
    analysis = _analysis(anvil, exploited)
    first = plans.build_plan(
        analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push", gas_ceiling=250_000
    )
    first_asset = first.assets.get()
    batches = MigrationBatch.objects.filter(plan_asset=first_asset).count()
    assert batches >= 2
    claims = dict(Allocation.objects.filter(plan_asset=first_asset).values_list("account", "amount"))
    fund_recovery_executor(
        w3, demo, deployer=deployer, token=first_asset.payout_token, amount=int(first_asset.total_allocated)
    )
    approve_on_chain(w3, demo, timelock, first_asset)
    half = set(range(batches // 2))
    execute_batches_on_chain(w3, demo, executor_account, first_asset, indexes=half)
    paid_by_v1 = {
        account: int(amount)
        for batch in MigrationBatch.objects.filter(plan_asset=first_asset, index__in=half)
        for account, amount in zip(batch.recipients, batch.amounts, strict=True)
    }

    second = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push")

    assert second.version == 2
    second_asset = second.assets.get()
    v2 = dict(Allocation.objects.filter(plan_asset=second_asset).values_list("account", "amount"))
    for account, claim in claims.items():
        assert v2.get(account, 0) + paid_by_v1.get(account, 0) == claim  # v1 + v2 = the full claim, never more
    assert not set(v2) & set(paid_by_v1)  # those paid in full by v1 are not paid again
    earlier = second.summary["assets"][second_asset.asset]["paid_by_earlier_versions"]
    assert earlier == {"total": str(sum(paid_by_v1.values())), "accounts": len(paid_by_v1)}
    assert int(second_asset.total_allocated) == int(first_asset.total_allocated) - sum(paid_by_v1.values())
