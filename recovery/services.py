"""State changes of the recovery app. Each service owns its transaction."""

from django.db import transaction
from django.utils import timezone
from web3 import Web3
from web3.exceptions import Web3RPCError

from chain.demo import DemoDeployment
from chain.errors import ChainError
from recovery.models import DeployedContract, Deployment
from recovery.selectors import get_current_deployment


@transaction.atomic
def record_deployment(*, deployment: DemoDeployment) -> Deployment:
    """Store a deployment and its contracts; it becomes the current one for its RPC URL."""
    row = Deployment.objects.create(
        chain_id=deployment.chain_id,
        rpc_url=deployment.rpc_url,
        deployer=deployment.deployer,
        executor=deployment.executor,
        committee=deployment.committee,
        holder_count=len(deployment.holders),
    )
    DeployedContract.objects.bulk_create(
        DeployedContract(
            deployment=row, role=role, name=item.name, address=item.address, block=item.block, tx_hash=item.tx_hash
        )
        for role, item in deployment.contracts.items()
    )
    return row


def check_deployment(*, w3: Web3, rpc_url: str) -> Deployment | None:
    """Read the head block and each contract's code; record whether the deployment is live.

    Returns ``None`` when nothing is deployed for ``rpc_url``. Chain reads happen before the
    transaction, so no database lock is held across network calls.
    """
    deployment = get_current_deployment(rpc_url=rpc_url)
    if deployment is None:
        return None
    contracts = list(deployment.contracts.all())
    try:
        head = int(w3.eth.block_number)
        has_code = {c.pk: len(w3.eth.get_code(Web3.to_checksum_address(c.address))) > 0 for c in contracts}
    except (ChainError, Web3RPCError, OSError, ValueError):
        head, has_code = None, {}
    with transaction.atomic():
        for contract in contracts:
            contract.has_code = has_code.get(contract.pk)
        DeployedContract.objects.bulk_update(contracts, ["has_code"])
        deployment.checked_at = timezone.now()
        deployment.head_block = head
        deployment.healthy = bool(has_code) and all(has_code.values())
        deployment.save(update_fields=["checked_at", "head_block", "healthy"])
    return deployment
