"""Shared set-up of the governance tests: the two governor shapes, a frozen real plan, proposals, votes and time.

The dev governor (fixture ``demo``): block clock, a TimelockController, hashed proposal ids,
threshold 0. The timestamp governor (``timestamp_stack``; ``TimestampGovernor`` in
contracts/src/test/, compiled for the tests only): timestamp clock, no timelock, sequential
ids, threshold 10**18. With no timelock it executes its proposals itself, so its
RecoveryExecutor's approver is the governor itself.

The fixtures defined here are registered for tests/governance/ by its conftest.py.
"""

import pytest
from django.conf import settings
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import bind, factory
from chain.demo import holder_account
from chain.transact import send, wait_for
from governance import services
from governance.models import GovernorVenue, Publication, PublicationStatus
from governance.models.votes import VoteRecord
from proposals.models import ProposalDocument, Rehearsal
from proposals.services import freeze_proposal
from recovery import plans
from tests.factories import analysed_exploit

SUPPLY = 1_000_000 * 10**18
DELAY_SECONDS, PERIOD_SECONDS, THRESHOLD, QUORUM_PERCENT = 3_600, 86_400, 10**18, 10
LATE_QUORUM_SECONDS = 7_200
FOR, AGAINST, ABSTAIN = 1, 0, 2


def _deploy(w3: Web3, deployer: LocalAccount, name: str, *args: object) -> str:
    return send(w3, deployer, factory(w3, name).constructor(*args))["contractAddress"]


@pytest.fixture
def timestamp_stack(w3, demo, deployer, executor_account, committee_account) -> dict[str, str]:
    token = _deploy(w3, deployer, "TimestampVotesToken", deployer.address, SUPPLY)
    send(w3, deployer, bind(w3, "TimestampVotesToken", token).functions.delegate(deployer.address))
    governor = _deploy(
        w3,
        deployer,
        "TimestampGovernor",
        token,
        DELAY_SECONDS,
        PERIOD_SECONDS,
        THRESHOLD,
        QUORUM_PERCENT,
        LATE_QUORUM_SECONDS,
    )
    # admin and approver: the governor itself, as a timelock-less governance would set it up.
    recovery_executor = _deploy(
        w3, deployer, "RecoveryExecutor", governor, governor, executor_account.address, committee_account.address
    )
    # Blocks mined within one second share a timestamp: move the clock on, so the supply is
    # checkpointed strictly before the timepoint the quorum is read at.
    increase_time(w3, 10)
    return {"token": token, "governor": governor, "recovery_executor": recovery_executor}


def dev_venue(demo, anvil) -> GovernorVenue:
    return services.add_governor_venue(
        chain_id=demo.chain_id,
        governor=demo.address("governor"),
        recovery_executor=demo.address("recovery_executor"),
        rpc_url=anvil.url,
    )


def timestamp_venue(demo, anvil, stack: dict[str, str]) -> GovernorVenue:
    return services.add_governor_venue(
        chain_id=demo.chain_id,
        governor=stack["governor"],
        recovery_executor=stack["recovery_executor"],
        rpc_url=anvil.url,
    )


def frozen_document(
    anvil, exploited, *, changes=(), budget: int | None = None, recovery_executor: str | None = None
) -> ProposalDocument:
    """A real plan (the exploited demo vault, restitute) frozen into its proposal document.

    Its batch leaves are bound to ``recovery_executor`` (default: the recorded demo deployment's):
    a venue approving on another executor refuses the document.
    """
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    return frozen_version(analysis, exploited, changes=changes, budget=budget, recovery_executor=recovery_executor)


def frozen_version(
    analysis, exploited, *, changes=(), budget: int | None = None, recovery_executor: str | None = None
) -> ProposalDocument:
    if budget is None:
        plan = plans.build_plan(
            analysis_id=analysis.pk,
            mode="restitute",
            policy="full",
            parameter_changes=changes,
            recovery_executor=recovery_executor,
        )
    else:
        plan = plans.build_plan(
            analysis_id=analysis.pk,
            mode="restitute",
            policy="pro_rata",
            budgets={exploited["vault"]: str(budget)},
            parameter_changes=changes,
            recovery_executor=recovery_executor,
        )
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    return document


def proposer_address() -> str:
    from config.preflight import load_role_account

    return load_role_account("proposer").address


def mine(w3: Web3, blocks: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


def increase_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def give_votes(w3: Web3, deployer: LocalAccount, token_name: str, token: str, account: LocalAccount, amount: int):
    """Transfer ``amount`` voting tokens to ``account``, which delegates them to itself (gas funded here)."""
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])
    contract = bind(w3, token_name, token)
    # Explicit gas: on a timestamp clock the estimate (at the head's time) may update a checkpoint
    # in place that the mined transaction (a later time) must push anew, at a higher cost.
    send(w3, deployer, contract.functions.transfer(account.address, amount), tx={"gas": 300_000})
    send(w3, account, contract.functions.delegate(account.address), tx={"gas": 300_000})


def delegate(w3: Web3, token_name: str, token: str, holder: LocalAccount, to: str) -> None:
    send(w3, holder, bind(w3, token_name, token).functions.delegate(to), tx={"gas": 300_000})


def vote(w3: Web3, governor: str, proposal_id: int, holder_index: int, support: int = FOR) -> None:
    """Holder ``holder_index`` votes from its own key."""
    holder = holder_account(holder_index)
    send(
        w3, holder, bind(w3, "LifeboatGovernor", governor).functions.castVote(proposal_id, support), tx={"gas": 300_000}
    )


def created_count(w3: Web3, governor: str, from_block: int = 0) -> int:
    """How many ProposalCreated logs the governor has emitted since ``from_block``."""
    events = bind(w3, "LifeboatGovernor", governor).events.ProposalCreated().get_logs(from_block=from_block)
    return len(list(events))


def state_of(w3: Web3, governor: str, proposal_id: int) -> int:
    return bind(w3, "LifeboatGovernor", governor).functions.state(proposal_id).call()


def plan_on_chain(w3: Web3, recovery_executor: str, plan_id: int) -> tuple:
    return tuple(bind(w3, "RecoveryExecutor", recovery_executor).functions.getPlan(int(plan_id)).call())


def proposer_key_setting() -> dict[str, str]:
    return settings.LIFEBOAT_KEYS["proposer"]


def finished_rehearsal(document, venue, status: str = "passed") -> Rehearsal:
    """A finished rehearsal row with that verdict (running the fork rehearsal is the rehearsal tests' job)."""
    return Rehearsal.objects.create(
        proposal=document,
        venue=venue,
        status=status,
        content_hash=document.content_hash,
        chain_id=venue.chain_id,
        finished_at=timezone.now(),
    )


def make_publishable(document, venue, rpc_url: str, *, rehearsal: str = "passed", signers: int = 2) -> None:
    """Give ``document`` a finished rehearsal on ``venue`` (``finished_rehearsal``) and ``signers``
    real EIP-712 sign-offs by dev committee keys."""
    from chain.devkeys import COMMITTEE_KEYS
    from chain.keys import load_account
    from proposals.signoff import signable_message
    from proposals.signoffs import get_signoff_subject, link_committee_member, submit_signoff
    from tests.factories import UserFactory

    finished_rehearsal(document, venue, rehearsal)
    if rehearsal != "passed":
        return
    subject = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk)
    for key in COMMITTEE_KEYS[:signers]:
        account = load_account(private_key=key)
        member, _ = link_committee_member(username=UserFactory(committee=True).username, address=account.address)
        signature = account.sign_message(signable_message(subject.typed_data)).signature.to_0x_hex()
        submit_signoff(proposal_id=document.pk, venue_id=venue.pk, member=member, signature=signature, rpc_url=rpc_url)


def client_as(user=None) -> APIClient:
    """An API client signed in as ``user`` (anonymous without one)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# --- proposals made by hand, as the indexer's tests need them -----------------------------------


def signed(w3: Web3, account, call) -> bytes:
    """``call`` signed by ``account`` at its next nonce: raw bytes a reorg can include again."""
    params = call.build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    )
    params.pop("from", None)
    return bytes(account.sign_transaction(params).raw_transaction)


def send_raw(w3: Web3, raw: bytes) -> dict:
    return wait_for(w3, w3.eth.send_raw_transaction(raw))


def propose(w3: Web3, proposer, venue, document, *, calls=None, governor_artifact="LifeboatGovernor"):
    """Propose on ``venue``'s governor and store the publication as publishing would; (publication, raw tx)."""
    governor = bind(w3, governor_artifact, venue.governor)
    if calls is None:
        calls = [(venue.recovery_executor, 0, "0x")]  # any call: following does not run it
    targets, values, calldatas = (list(column) for column in zip(*calls, strict=True))
    description = f"Recovery proposal document {document.pk} version {document.version}\n\ncontent-hash: " + (
        document.content_hash
    )
    raw = signed(w3, proposer, governor.functions.propose(targets, values, calldatas, description))
    receipt = send_raw(w3, raw)
    created = governor.events.ProposalCreated().process_receipt(receipt)[0]["args"]
    publication = Publication.objects.create(
        document=document,
        venue=venue,
        status=PublicationStatus.CREATED,
        proposal_id=created["proposalId"],
        description=description,
        description_hash="0x" + keccak(text=description).hex(),
        actions=[{"target": t, "value": str(v), "calldata": c} for t, v, c in calls],
        proposer=proposer.address,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        created_block=receipt["blockNumber"],
        created_block_hash=receipt["blockHash"].to_0x_hex(),
    )
    return publication, raw


def vote_call(w3, publication, support, *, reason=None, params=None, artifact="LifeboatGovernor"):
    functions = bind(w3, artifact, publication.venue.governor).functions
    proposal_id = int(publication.proposal_id)
    if params is not None:
        return functions.castVoteWithReasonAndParams(proposal_id, support, reason or "", params)
    if reason is not None:
        return functions.castVoteWithReason(proposal_id, support, reason)
    return functions.castVote(proposal_id, support)


def chain_tally(w3, publication, block: int | str = "latest", artifact="LifeboatGovernor") -> tuple[int, int, int]:
    """(for, against, abstain) from the governor's proposalVotes at ``block``."""
    functions = bind(w3, artifact, publication.venue.governor).functions
    against, for_, abstain = functions.proposalVotes(int(publication.proposal_id)).call(block_identifier=block)
    return for_, against, abstain


def stored_tally(publication) -> tuple[int, int, int]:
    publication.refresh_from_db()
    return int(publication.for_votes), int(publication.against_votes), int(publication.abstain_votes)


def rows_sum(publication) -> tuple[int, int, int]:
    sums = {0: 0, 1: 0, 2: 0}
    for row in VoteRecord.objects.filter(publication=publication):
        sums[row.support] += int(row.weight)
    return sums[FOR], sums[AGAINST], sums[ABSTAIN]


def assert_tally_is_the_governors(w3, publication) -> None:
    publication.refresh_from_db()
    at = publication.followed_block
    assert w3.eth.get_block(at)["hash"].to_0x_hex() == publication.followed_block_hash
    assert stored_tally(publication) == rows_sum(publication) == chain_tally(w3, publication, at)
