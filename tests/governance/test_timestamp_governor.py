"""The other shape of OpenZeppelin v5 Governor: a timestamp clock, no timelock, stored and sequential proposals.

``TimestampGovernor`` (contracts/src/test/) is compiled for these tests only; with no timelock
it executes its proposals itself, so it is the account that must hold APPROVER_ROLE. The
fixture ``timestamp_stack`` is tests/governance/governors.py's.
"""

import pytest
from eth_utils import keccak

from chain.governor import TIMESTAMP_CLOCK_MODE, ApproverMissing, check_approver, probe_governor
from governance import services
from tests.governance.governors import (
    DELAY_SECONDS,
    LATE_QUORUM_SECONDS,
    PERIOD_SECONDS,
    QUORUM_PERCENT,
    SUPPLY,
    THRESHOLD,
)

pytestmark = pytest.mark.chain


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
