"""Probing an OpenZeppelin Governor on anvil: what it says about itself, and what is not a governor."""

import pytest
from eth_utils import keccak

from chain.artifacts import bind
from chain.demo import QUORUM_PERCENT, VOTING_DELAY_BLOCKS, VOTING_PERIOD_BLOCKS
from chain.governor import (
    BLOCKNUMBER_CLOCK_MODE,
    IGOVERNOR_FUNCTIONS,
    IGOVERNOR_INTERFACE_ID,
    ApproverMissing,
    NotAGovernor,
    NotARecoveryExecutor,
    check_approver,
    probe_governor,
)

pytestmark = pytest.mark.chain


def test_the_igovernor_interface_id_is_the_xor_of_its_27_own_selectors_and_the_dev_governor_answers_it(w3, demo):
    assert len(IGOVERNOR_FUNCTIONS) == 27 == len(set(IGOVERNOR_FUNCTIONS))
    assert IGOVERNOR_INTERFACE_ID == "0xcdbdfcee"
    governor = bind(w3, "LifeboatGovernor", demo.address("governor"))
    assert governor.functions.supportsInterface(bytes.fromhex("cdbdfcee")).call() is True
    assert governor.functions.supportsInterface(bytes.fromhex("cdbdfcef")).call() is False


def test_the_dev_governor_is_probed_with_a_block_clock_its_timelock_and_what_the_contract_says(w3, demo):
    probe = probe_governor(w3, demo.address("governor"))
    governor = bind(w3, "LifeboatGovernor", demo.address("governor"))
    at = probe.block_number

    assert probe.address == demo.address("governor")
    assert probe.chain_id == demo.chain_id
    assert probe.block_hash == w3.eth.get_block(at)["hash"].to_0x_hex()
    assert probe.name == "Lifeboat Demo Governor" == governor.functions.name().call(block_identifier=at)
    assert probe.version == "1"
    assert probe.interface_id == IGOVERNOR_INTERFACE_ID
    assert probe.clock_mode == BLOCKNUMBER_CLOCK_MODE == governor.functions.CLOCK_MODE().call()
    assert probe.clock == at == governor.functions.clock().call(block_identifier=at)
    assert probe.voting_delay == VOTING_DELAY_BLOCKS
    assert probe.voting_period == VOTING_PERIOD_BLOCKS
    assert probe.quorum_timepoint == at - 1
    assert probe.quorum == governor.functions.quorum(at - 1).call(block_identifier=at)
    supply = bind(w3, "LifeboatToken", demo.address("token")).functions.totalSupply().call(block_identifier=at)
    assert probe.quorum == supply * QUORUM_PERCENT // 100 > 0
    assert probe.proposal_threshold == 0
    assert probe.counting_mode == "support=bravo&quorum=for,abstain"
    assert probe.token == demo.address("token")
    assert probe.timelock == demo.address("timelock") == probe.executor
    assert probe.sequential_ids is False and probe.stores_proposals is False
    assert probe.late_quorum_extension is None
    assert probe.uses_timestamps is False


def test_the_approver_check_passes_for_the_demo_stack(w3, demo):
    probe = probe_governor(w3, demo.address("governor"))
    role = check_approver(w3, probe, demo.address("recovery_executor"))
    assert role == "0x" + keccak(text="APPROVER_ROLE").hex()


def test_a_timelock_without_the_approver_role_gets_the_exact_grant_to_send(w3, demo, timelock):
    recovery_executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    role = recovery_executor.functions.APPROVER_ROLE().call()
    # The timelock is the RecoveryExecutor's admin in the demo stack: it revokes its own role.
    tx = recovery_executor.functions.revokeRole(role, timelock).transact({"from": timelock})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    probe = probe_governor(w3, demo.address("governor"))
    with pytest.raises(ApproverMissing) as refused:
        check_approver(w3, probe, demo.address("recovery_executor"))
    message = str(refused.value)
    assert f"grantRole(APPROVER_ROLE=0x{role.hex()}, {timelock})" in message
    assert f"on {demo.address('recovery_executor')} from an account with its admin role" in message
    assert refused.value.executor == timelock


@pytest.mark.parametrize("role", ["token", "vault", "timelock", "recovery_executor"])
def test_a_contract_that_is_not_a_governor_is_refused_naming_what_is_missing(w3, demo, role):
    with pytest.raises(NotAGovernor) as refused:
        probe_governor(w3, demo.address(role))
    assert str(refused.value).startswith(f"{demo.address(role)} is not an OpenZeppelin Governor: ")
    assert "supportsInterface(IGovernor 0xcdbdfcee" in refused.value.missing


def test_an_account_without_code_is_refused_as_not_a_governor(w3, demo):
    with pytest.raises(NotAGovernor, match=r"has no code at block \d+ \(an account, not a contract\)"):
        probe_governor(w3, demo.deployer)


def test_an_approver_check_against_something_that_is_not_a_recovery_executor_is_refused(w3, demo, deployer):
    probe = probe_governor(w3, demo.address("governor"))
    with pytest.raises(NotARecoveryExecutor, match=r"APPROVER_ROLE\(\) reverts or returns nothing"):
        check_approver(w3, probe, demo.address("token"))
