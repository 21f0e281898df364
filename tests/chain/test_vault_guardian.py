"""The demo vault's first response on anvil: the guardian's pause, emergency shutdown and
withdrawal, and the snapshot registry the archived roots are committed to."""

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from chain.artifacts import bind, factory
from chain.demo import FEED_DECIMALS, DemoDeployment, exploit_vault, holder_account, holder_deposit
from chain.errors import Reverted
from chain.logs import RawRpc
from chain.transact import reverts_as_chain_errors, send
from chain.vault import NotAShutdownVault, emergency_withdraw, shutdown_vault, vault_state, withdrawable
from recovery.merkle import StandardMerkleTree

LEAF = ["address", "address", "uint256"]
ZERO_HASH = b"\x00" * 32


def _refused(call: Callable[[], object]) -> Reverted:
    with pytest.raises(Reverted) as refused:
        call()
    return refused.value


def _vault(w3: Web3, demo: DemoDeployment):
    return bind(w3, "DemoVault", demo.address("vault"))


def _deposit(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, assets: int) -> None:
    asset = bind(w3, "DemoAsset", demo.address("asset"))
    send(w3, deployer, asset.functions.mint(deployer.address, assets))
    send(w3, deployer, asset.functions.approve(demo.address("vault"), assets))
    send(w3, deployer, _vault(w3, demo).functions.deposit(assets, deployer.address))


# --- roles as deployed -------------------------------------------------------------------------


def test_the_vault_names_governance_and_the_guardian_and_starts_open(w3: Web3, demo: DemoDeployment):
    vault = _vault(w3, demo)
    assert vault.functions.governance().call() == demo.address("timelock")
    assert vault.functions.guardian().call() == demo.committee
    state = vault_state(w3, demo.address("vault"), w3.eth.block_number)
    assert (state.paused, state.shut_down, state.shutdown_assets, state.shutdown_block) == (False, False, 0, 0)
    assert state.total_assets == state.total_supply == sum(holder_deposit(i) for i in range(len(demo.holders)))
    assert state.withdrawn_since_shutdown == 0


def test_the_reference_feed_and_the_registry_are_deployed_after_the_rest(w3: Web3, demo: DemoDeployment):
    roles = list(demo.contracts)
    assert roles[-4:-2] == ["reference_feed", "snapshot_registry"]  # then the margin markets
    feed, reference = (bind(w3, "DemoPriceFeed", demo.address(r)) for r in ("price_feed", "reference_feed"))
    assert reference.functions.decimals().call() == feed.functions.decimals().call() == FEED_DECIMALS
    assert reference.functions.description().call() == "dUSD / USD (reference)"
    assert reference.functions.latestRoundData().call()[1] == feed.functions.latestRoundData().call()[1]
    registry = bind(w3, "SnapshotRegistry", demo.address("snapshot_registry"))
    committer, admin = registry.functions.COMMITTER_ROLE().call(), registry.functions.DEFAULT_ADMIN_ROLE().call()
    assert registry.functions.hasRole(committer, demo.committee).call()
    assert registry.functions.hasRole(admin, demo.address("timelock")).call()
    assert not registry.functions.hasRole(admin, demo.deployer).call()


def test_a_vault_without_governance_or_guardian_is_refused_at_deployment(w3: Web3, demo: DemoDeployment, deployer):
    zero = "0x0000000000000000000000000000000000000000"
    for governance, guardian in ((zero, demo.committee), (demo.address("timelock"), zero)):
        constructor = factory(w3, "DemoVault").constructor(demo.address("asset"), governance, guardian)
        assert _refused(lambda c=constructor: send(w3, deployer, c)).error == "ZeroAddress"


# --- pause ------------------------------------------------------------------------------------


def test_the_guardians_pause_stops_deposits_redeems_and_the_exploit(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount, deployer: LocalAccount, attacker: LocalAccount
):
    vault = _vault(w3, demo)
    receipt = send(w3, committee_account, vault.functions.pause())
    (paused,) = vault.events.Paused().process_receipt(receipt, errors=DISCARD)
    assert paused["args"]["account"] == demo.committee
    assert vault_state(w3, vault.address, receipt["blockNumber"]).paused is True
    assert vault_state(w3, vault.address, receipt["blockNumber"] - 1).paused is False  # reads name their block

    assert _refused(lambda: _deposit(w3, demo, deployer, 10**6)).error == "EnforcedPause"
    holder = holder_account(0)
    shares = vault.functions.balanceOf(holder.address).call()
    assert _refused(lambda: send(w3, holder, vault.functions.redeem(shares, holder.address, holder.address))).error == (
        "EnforcedPause"
    )
    exploit = _refused(lambda: exploit_vault(w3, demo, attacker=attacker, victims=demo.holders))
    assert exploit.error == "EnforcedPause"
    assert vault.functions.balanceOf(holder.address).call() == shares
    # Pausing twice is refused, so a circuit breaker reads paused() first.
    assert _refused(lambda: send(w3, committee_account, vault.functions.pause())).error == "EnforcedPause"


def test_governance_or_the_guardian_unpauses_and_deposits_resume(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount, deployer: LocalAccount, timelock: str
):
    vault = _vault(w3, demo)
    send(w3, committee_account, vault.functions.pause())
    tx = vault.functions.unpause().transact({"from": timelock})
    (unpaused,) = vault.events.Unpaused().process_receipt(w3.eth.wait_for_transaction_receipt(tx), errors=DISCARD)
    assert unpaused["args"]["account"] == timelock
    _deposit(w3, demo, deployer, 10**6)
    send(w3, committee_account, vault.functions.pause())
    send(w3, committee_account, vault.functions.unpause())
    assert vault.functions.paused().call() is False
    assert _refused(lambda: send(w3, committee_account, vault.functions.unpause())).error == "ExpectedPause"


def test_a_stranger_cannot_pause_unpause_or_shut_down_and_governance_cannot_pause(
    w3: Web3, demo: DemoDeployment, attacker: LocalAccount, committee_account: LocalAccount, timelock: str
):
    vault = _vault(w3, demo)
    assert _refused(lambda: send(w3, attacker, vault.functions.pause())).error == "NotGuardian"
    assert _refused(lambda: shutdown_vault(w3, vault.address, attacker)).error == "NotGovernanceOrGuardian"
    # Pausing is the guardian's alone: governance acts too slowly to be a circuit breaker.
    assert _refused(
        lambda: reverts_as_chain_errors(lambda: vault.functions.pause().call({"from": timelock}))
    ).error == ("NotGuardian")
    send(w3, committee_account, vault.functions.pause())
    assert _refused(lambda: send(w3, attacker, vault.functions.unpause())).error == "NotGovernanceOrGuardian"
    state = vault_state(w3, vault.address, w3.eth.block_number)
    assert state.paused is True and state.shut_down is False


# --- shutdown and emergency withdrawal --------------------------------------------------------


def test_governance_shuts_down_and_each_holder_takes_exactly_their_share(
    w3: Web3, demo: DemoDeployment, timelock: str, deployer: LocalAccount
):
    vault = _vault(w3, demo)
    before = vault_state(w3, vault.address, w3.eth.block_number)
    tx = vault.functions.shutdown().transact({"from": timelock})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    (event,) = vault.events.Shutdown().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {"by": timelock, "assets": before.total_assets, "supply": before.total_supply}

    state = vault_state(w3, vault.address, receipt["blockNumber"])
    assert state.shut_down is True and state.paused is False
    assert state.shutdown_assets == before.total_assets and state.shutdown_block == receipt["blockNumber"]
    assert vault_state(w3, vault.address, receipt["blockNumber"] - 1).shut_down is False
    assert _refused(lambda: _deposit(w3, demo, deployer, 10**6)).error == "VaultShutDown"

    paid = 0
    for index in range(0, len(demo.holders), 3):
        holder = holder_account(index)
        shares, assets = withdrawable(w3, vault.address, holder.address, w3.eth.block_number)
        assert shares == holder_deposit(index) and assets == vault.functions.convertToAssets(shares).call()
        receiver = Web3.to_checksum_address(f"0x{index + 1:040x}")
        withdrawal = emergency_withdraw(w3, vault.address, holder, receiver)
        assert (withdrawal.owner, withdrawal.receiver, withdrawal.shares, withdrawal.assets) == (
            holder.address,
            receiver,
            shares,
            assets,
        )
        assert bind(w3, "DemoAsset", demo.address("asset")).functions.balanceOf(receiver).call() == assets
        assert withdrawable(w3, vault.address, holder.address, withdrawal.block) == (0, 0)
        paid += assets

    after = vault_state(w3, vault.address, w3.eth.block_number)
    assert after.total_assets == state.shutdown_assets - paid
    assert after.withdrawn_since_shutdown == paid
    assert after.shutdown_assets == state.shutdown_assets  # the record does not move as holders leave


def test_the_guardian_shuts_down_once_and_holders_leave_even_while_paused(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount, timelock: str
):
    vault = _vault(w3, demo)
    send(w3, committee_account, vault.functions.pause())
    shut = shutdown_vault(w3, vault.address, committee_account)
    assert shut.by == demo.committee and shut.assets == vault.functions.shutdownAssets().call()
    assert _refused(lambda: shutdown_vault(w3, vault.address, committee_account)).error == "VaultShutDown"
    assert _refused(
        lambda: reverts_as_chain_errors(lambda: vault.functions.shutdown().call({"from": timelock}))
    ).error == ("VaultShutDown")

    holder = holder_account(1)
    shares, assets = withdrawable(w3, vault.address, holder.address, w3.eth.block_number)
    # Paused: the flawed redeem stays closed, the orderly exit stays open.
    assert _refused(lambda: send(w3, holder, vault.functions.redeem(shares, holder.address, holder.address))).error == (
        "EnforcedPause"
    )
    assert emergency_withdraw(w3, vault.address, holder, holder.address).assets == assets
    assert _refused(lambda: emergency_withdraw(w3, vault.address, holder, holder.address)).error == "NoShares"


def test_emergency_withdraw_is_closed_before_shutdown(w3: Web3, demo: DemoDeployment):
    holder = holder_account(2)
    assert _refused(lambda: emergency_withdraw(w3, demo.address("vault"), holder, holder.address)).error == (
        "NotShutDown"
    )


def test_after_shutdown_the_unpaused_vault_is_as_drainable_as_before(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount, attacker: LocalAccount
):
    """Shutdown closes deposits, not the flaw: only the guardian's pause stops the exploit."""
    vault = _vault(w3, demo)
    shutdown_vault(w3, vault.address, committee_account)
    victim = demo.holders[0]
    exploit_vault(w3, demo, attacker=attacker, victims=[victim])
    assert vault.functions.balanceOf(victim).call() == 0
    state = vault_state(w3, vault.address, w3.eth.block_number)
    assert state.withdrawn_since_shutdown == holder_deposit(0)


# --- reads of things that are not the vault ---------------------------------------------------


def test_reading_an_address_that_is_not_the_vault_says_what_is_wrong(w3: Web3, demo: DemoDeployment, anvil):
    block = w3.eth.block_number
    with pytest.raises(NotAShutdownVault, match="no contract code"):
        vault_state(w3, "0x000000000000000000000000000000000000dEaD", block)
    with RawRpc(anvil.url) as rpc, pytest.raises(NotAShutdownVault, match=r"paused\(\) reverted"):
        vault_state(rpc, demo.address("asset"), block)  # an ERC-20 without pause
    with pytest.raises(NotAShutdownVault, match="no contract code"):
        vault_state(w3, demo.address("vault"), demo.contracts["vault"].block - 1)  # before it existed
    assert withdrawable(w3, demo.address("vault"), demo.deployer, block) == (0, 0)


# --- snapshot registry ------------------------------------------------------------------------


def _positions(w3: Web3, demo: DemoDeployment, block: int) -> list[list]:
    vault = _vault(w3, demo)
    return [
        [holder, demo.address("vault"), vault.functions.balanceOf(holder).call(block_identifier=block)]
        for holder in demo.holders
    ]


def _commit(w3: Web3, demo: DemoDeployment, account: LocalAccount, block: int, root: bytes, leaves: int = 1):
    registry = bind(w3, "SnapshotRegistry", demo.address("snapshot_registry"))
    block_hash = bytes(w3.eth.get_block(block)["hash"])
    return send(w3, account, registry.functions.commit(block, block_hash, root, b"\x11" * 32, leaves))


def test_a_committed_root_proves_a_holders_position_and_nothing_else(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount
):
    registry = bind(w3, "SnapshotRegistry", demo.address("snapshot_registry"))
    block = w3.eth.block_number
    values = _positions(w3, demo, block)
    tree = StandardMerkleTree.of(values, LEAF)
    root = bytes.fromhex(tree.root[2:])
    receipt = _commit(w3, demo, committee_account, block, root, leaves=len(values))

    (event,) = registry.events.SnapshotCommitted().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["blockNumber"] == block and event["args"]["root"] == root
    assert event["args"]["blockHash"] == bytes(w3.eth.get_block(block)["hash"])
    assert event["args"]["leaves"] == len(values)
    assert registry.functions.rootOf(block).call() == root
    assert registry.functions.snapshotOf(block).call()[3] == len(values)

    for index in (0, 5, len(values) - 1):
        account, asset, amount = values[index]
        proof = [bytes.fromhex(node[2:]) for node in tree.get_proof(index)]
        assert registry.functions.proves(block, proof, account, asset, amount).call() is True
        assert registry.functions.proves(block, proof, account, asset, amount + 1).call() is False
        assert registry.functions.proves(block, proof, demo.deployer, asset, amount).call() is False
        assert registry.functions.proves(block - 1, proof, account, asset, amount).call() is False  # not committed


def test_a_block_is_committed_once_only_by_a_committer_and_never_empty(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount, attacker: LocalAccount
):
    registry = bind(w3, "SnapshotRegistry", demo.address("snapshot_registry"))
    block = w3.eth.block_number
    root = b"\x22" * 32
    refused = _refused(lambda: _commit(w3, demo, attacker, block, root))
    assert refused.error == "AccessControlUnauthorizedAccount" and refused.args_[0] == attacker.address
    assert _refused(lambda: _commit(w3, demo, committee_account, block, ZERO_HASH)).error == "EmptyRoot"

    _commit(w3, demo, committee_account, block, root)
    again = _refused(lambda: _commit(w3, demo, committee_account, block, b"\x33" * 32))
    assert (again.error, again.args_) == ("AlreadyCommitted", (block,))
    assert registry.functions.rootOf(block).call() == root


def test_a_snapshot_must_name_a_past_block_by_its_real_hash(
    w3: Web3, demo: DemoDeployment, committee_account: LocalAccount
):
    registry = bind(w3, "SnapshotRegistry", demo.address("snapshot_registry"))
    head = w3.eth.block_number
    future = _refused(
        lambda: send(
            w3, committee_account, registry.functions.commit(head + 5, b"\x01" * 32, b"\x22" * 32, b"\x11" * 32, 1)
        )
    )
    assert (future.error, future.args_) == ("FutureBlock", (head + 5,))
    past = head - 1
    wrong = _refused(
        lambda: send(
            w3, committee_account, registry.functions.commit(past, b"\x01" * 32, b"\x22" * 32, b"\x11" * 32, 1)
        )
    )
    assert wrong.error == "WrongBlockHash" and wrong.args_ == (past, bytes(w3.eth.get_block(past)["hash"]))
    assert registry.functions.rootOf(past).call() == ZERO_HASH
