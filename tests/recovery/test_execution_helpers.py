"""Building an approved push plan for the execution tests, without the governance flow.

The plan's rows are written directly (incident, analysis, plan, asset, batches with their
commitment bound to the demo's RecoveryExecutor), the RecoveryExecutor is funded with the demo
asset, and the plan is approved by the timelock (impersonated on anvil) with the ten-argument
``approvePlan``. Also for the process-level fault tests: ``make_approved_plan``. (No tests here: helpers only.)
"""

from dataclasses import dataclass

from eth_utils import keccak
from web3 import Web3

from chain.artifacts import bind
from chain.transact import reverts_as_chain_errors, send, wait_for
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.models import (
    AnalysisStatus,
    DeployedContract,
    Deployment,
    ImpactAnalysis,
    MigrationBatch,
    PlanAsset,
    RecoveryPlan,
)
from recovery.plans import onchain_plan_id
from tests.factories import IncidentFactory

RESTITUTE, PUSH, PULL = 0, 0, 2


@dataclass
class ApprovedPlan:
    plan: RecoveryPlan
    plan_asset: PlanAsset
    batches: list[Batch]
    token: str
    executor: str  # the RecoveryExecutor's address
    incident_key: str

    @property
    def payments(self) -> dict[str, int]:
        paid: dict[str, int] = {}
        for batch in self.batches:
            for recipient, amount in zip(batch.recipients, batch.amounts, strict=True):
                paid[recipient] = paid.get(recipient, 0) + amount
        return paid


def register_deployment(demo) -> None:
    """The demo's RecoveryExecutor as the deployment's (how a plan without its own address finds it)."""
    if DeployedContract.objects.filter(role="recovery_executor", address=demo.address("recovery_executor")).exists():
        return
    deployment = Deployment.objects.create(
        chain_id=demo.chain_id,
        rpc_url=demo.rpc_url,
        deployer=demo.deployer,
        executor=demo.executor,
        committee=demo.committee,
    )
    DeployedContract.objects.create(
        deployment=deployment,
        role="recovery_executor",
        name="RecoveryExecutor",
        address=demo.address("recovery_executor"),
        block=demo.contracts["recovery_executor"].block,
        tx_hash=demo.contracts["recovery_executor"].tx_hash,
    )


def make_plan(
    w3: Web3, demo, *, batch_count: int = 4, per_batch: int = 3, version: int = 1, incident=None, salt: int = 0
) -> ApprovedPlan:
    """A committed push plan of ``batch_count`` batches paying the demo asset to the demo's holders (not approved)."""
    register_deployment(demo)
    incident = incident or IncidentFactory(chain_id=demo.chain_id)
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=0,
        reference_block=w3.eth.block_number,
        status=AnalysisStatus.COMPLETED,
    )
    plan = RecoveryPlan.objects.create(
        incident=incident, analysis=analysis, version=version, mode="restitute", policy="full", status="committed"
    )
    if hasattr(plan, "recovery_executor"):
        plan.recovery_executor = demo.address("recovery_executor")
        plan.save()
    token = demo.address("asset")
    holders = demo.holders
    batches = []
    for index in range(batch_count):
        recipients = tuple(holders[(index * per_batch + j) % len(holders)] for j in range(per_batch))
        amounts = tuple(10**18 + 1000 * index + j + salt for j in range(per_batch))
        batches.append(Batch(index, recipients, amounts))
    plan_id = onchain_plan_id(chain_id=demo.chain_id, plan_id=plan.pk, asset=token) + salt
    executor = demo.address("recovery_executor")
    tree = build_commitment(batches, domain=CommitmentDomain(demo.chain_id, executor, plan_id))
    total = sum(b.total for b in batches)
    plan_asset = PlanAsset.objects.create(
        plan=plan,
        asset=token,
        payout_token=token,
        budget=total,
        total_claims=total,
        total_allocated=total,
        commitment_root=tree.root,
        onchain_plan_id=plan_id,
    )
    MigrationBatch.objects.bulk_create(
        MigrationBatch(
            plan_asset=plan_asset,
            index=b.index,
            recipients=list(b.recipients),
            amounts=[str(a) for a in b.amounts],
            total=b.total,
            leaf_hash="0x",
            gas_estimate=300_000,
        )
        for b in batches
    )
    incident_key = "0x" + keccak(text=f"lifeboat-incident-{incident.pk}").hex()
    return ApprovedPlan(plan, plan_asset, batches, token, executor, incident_key)


def approve(w3: Web3, demo, deployer, timelock: str, approved: ApprovedPlan, *, version: int = 1) -> None:
    """Fund the RecoveryExecutor with the plan's total and approve the plan from the timelock.

    Returns once ``approvePlan``'s receipt is there (``Reverted`` if it failed): the ``PlanApproved``
    log is then served by ``eth_getLogs`` to whoever looks next.
    """
    total = sum(b.total for b in approved.batches)
    send(w3, deployer, bind(w3, "DemoAsset", approved.token).functions.mint(approved.executor, total))
    contract = bind(w3, "RecoveryExecutor", approved.executor)
    tx_hash = reverts_as_chain_errors(
        lambda: contract.functions.approvePlan(
            int(approved.plan_asset.onchain_plan_id),
            bytes.fromhex(approved.incident_key[2:]),
            version,
            bytes.fromhex(approved.plan_asset.commitment_root[2:]),
            approved.token,
            RESTITUTE,
            PUSH,
            len(approved.batches),
            total,
            0,
        ).transact({"from": timelock})
    )
    wait_for(w3, tx_hash)


def make_approved_plan(w3: Web3, demo, deployer, timelock: str, **options) -> ApprovedPlan:
    approved = make_plan(w3, demo, **options)
    approve(w3, demo, deployer, timelock, approved, version=options.get("version", 1))
    return approved


def balances(w3: Web3, token: str, accounts) -> dict[str, int]:
    erc20 = bind(w3, "DemoAsset", token)
    return {account: int(erc20.functions.balanceOf(account).call()) for account in accounts}
