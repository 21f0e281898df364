"""The other shape of OpenZeppelin v5 Governor: a timestamp clock, no timelock, stored and sequential proposals.

``TimestampGovernor`` (contracts/src/test/) is compiled for these tests only; with no timelock
it executes its proposals itself, so it is the account that must hold APPROVER_ROLE.
"""

import pytest
from eth_utils import keccak

from chain.artifacts import bind, factory
from chain.governor import TIMESTAMP_CLOCK_MODE, ApproverMissing, check_approver, probe_governor
from chain.transact import send
from governance import services

pytestmark = pytest.mark.chain

SUPPLY = 1_000_000 * 10**18
DELAY_SECONDS, PERIOD_SECONDS, THRESHOLD, QUORUM_PERCENT = 3_600, 86_400, 10**18, 10
LATE_QUORUM_SECONDS = 7_200


def _deploy(w3, deployer, name, *args) -> str:
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
    w3.provider.make_request("evm_increaseTime", [10])
    w3.provider.make_request("evm_mine", [])
    return {"token": token, "governor": governor, "recovery_executor": recovery_executor}


def test_a_timestamp_governor_without_timelock_is_probed_as_executing_itself_with_sequential_ids(w3, timestamp_stack):
    probe = probe_governor(w3, timestamp_stack["governor"])
    head = w3.eth.get_block(probe.block_number)

    assert probe.name == "Lifeboat Timestamp Governor"
    assert probe.clock_mode == TIMESTAMP_CLOCK_MODE and probe.uses_timestamps
    assert probe.clock == head["timestamp"] != probe.block_number
    assert probe.quorum_timepoint == head["timestamp"] - 1
    assert probe.quorum == SUPPLY * QUORUM_PERCENT // 100
    assert (probe.voting_delay, probe.voting_period, probe.proposal_threshold) == (
        DELAY_SECONDS,
        PERIOD_SECONDS,
        THRESHOLD,
    )
    assert probe.token == timestamp_stack["token"]
    assert probe.timelock is None and probe.executor == timestamp_stack["governor"]
    assert probe.sequential_ids is True and probe.stores_proposals is True
    assert probe.late_quorum_extension == LATE_QUORUM_SECONDS

    role = check_approver(w3, probe, timestamp_stack["recovery_executor"])
    assert role == "0x" + keccak(text="APPROVER_ROLE").hex()


def test_a_governor_without_timelock_is_told_to_grant_the_role_to_itself(w3, demo, timestamp_stack):
    # The demo RecoveryExecutor's approver is the demo timelock, not this governor.
    probe = probe_governor(w3, timestamp_stack["governor"])
    with pytest.raises(ApproverMissing) as refused:
        check_approver(w3, probe, demo.address("recovery_executor"))
    role = "0x" + keccak(text="APPROVER_ROLE").hex()
    assert f"grantRole(APPROVER_ROLE={role}, {timestamp_stack['governor']})" in str(refused.value)


@pytest.mark.django_db
def test_a_timestamp_governor_venue_is_stored_with_its_clock_and_no_timelock(demo, anvil, timestamp_stack):
    venue = services.add_governor_venue(
        chain_id=demo.chain_id,
        governor=timestamp_stack["governor"],
        recovery_executor=timestamp_stack["recovery_executor"],
        rpc_url=anvil.url,
    )
    venue.refresh_from_db()
    assert venue.clock_mode == "mode=timestamp" and venue.timelock == "" and venue.executor == venue.governor
    assert venue.sequential_ids is True and venue.stores_proposals is True
    assert venue.proposal_threshold == THRESHOLD
    assert venue.late_quorum_extension == LATE_QUORUM_SECONDS
