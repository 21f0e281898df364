"""chain.payouts on anvil: what plans paid, read back from the executor's events and the token's Transfers."""

import pytest
from web3 import Web3

from chain.artifacts import bind
from chain.errors import Reverted, RpcError
from chain.payouts import (
    CLAIMED,
    CREDITED,
    PLAN_APPROVED,
    PLAN_NONE,
    PLAN_REVOKED,
    PULL,
    PUSHED,
    PayoutMismatch,
    claim_status,
    credits_outstanding,
    paid_by_account,
    pin_block,
    plan_payments,
    token_deltas_in_blocks,
)
from chain.transact import send
from tests.chain.payout_plans import (
    PUSH_WITH_FALLBACK,
    RESTITUTE,
    RESTORE,
    approve_pull,
    approve_push,
    as_timelock,
    claim,
    deploy_blocking_token,
    execute,
    executor_contract,
    fund_executor,
    make_batches,
    recipients,
)

ACCOUNTS = recipients(7, 300)
ZERO = "0x" + "00" * 20
AMOUNTS = [1_000_001 * (i + 1) for i in range(7)]


def _payments(w3: Web3, demo, plan_ids, token, mode):
    return plan_payments(
        w3, recovery_executor=demo.address("recovery_executor"), plan_ids=plan_ids, token=token, mode=mode
    )


def test_pushed_payments_are_read_per_account_with_their_transactions(w3, demo, timelock, deployer, executor_account):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    plan = approve_push(w3, demo, timelock, plan_id=11, batches=make_batches(ACCOUNTS, AMOUNTS, 3), token=token)
    hashes = [execute(w3, demo, executor_account, plan, index) for index in range(3)]

    payments = _payments(w3, demo, [11], token, RESTITUTE)

    assert [(p.account, p.amount) for p in payments] == list(zip(ACCOUNTS, AMOUNTS, strict=True))
    assert {p.kind for p in payments} == {PUSHED}
    assert [p.batch_index for p in payments] == [0, 0, 0, 1, 1, 1, 2]
    assert [p.tx_hash for p in payments] == [hashes[0]] * 3 + [hashes[1]] * 3 + [hashes[2]]
    for payment in payments:
        block = w3.eth.get_block(payment.block_number)
        assert payment.block_hash == "0x" + bytes(block["hash"]).hex()
    assert paid_by_account(payments) == dict(zip(ACCOUNTS, AMOUNTS, strict=True))


def test_only_executed_batches_and_only_the_given_plans_count(w3, demo, timelock, deployer, executor_account):
    token = fund_executor(w3, demo, deployer, 2 * sum(AMOUNTS))
    first = approve_push(w3, demo, timelock, plan_id=21, batches=make_batches(ACCOUNTS, AMOUNTS, 3), token=token)
    second = approve_push(
        w3, demo, timelock, plan_id=22, batches=make_batches(ACCOUNTS, AMOUNTS, 4), token=token, incident="b"
    )
    execute(w3, demo, executor_account, first, 1)
    execute(w3, demo, executor_account, second, 0)

    only_first = _payments(w3, demo, [21], token, RESTITUTE)
    assert [p.account for p in only_first] == list(ACCOUNTS[3:6])
    both = _payments(w3, demo, [21, 22], token, RESTITUTE)
    assert {p.plan_id for p in both} == {21, 22}
    assert paid_by_account(both) == {
        **{a: n for a, n in zip(ACCOUNTS[:4], AMOUNTS[:4], strict=True) if a not in ACCOUNTS[3:6]},
        ACCOUNTS[3]: 2 * AMOUNTS[3],
        ACCOUNTS[4]: AMOUNTS[4],
        ACCOUNTS[5]: AMOUNTS[5],
    }
    # The same read, stopped before the second plan's batch.
    before = plan_payments(
        w3,
        recovery_executor=demo.address("recovery_executor"),
        plan_ids=[21, 22],
        token=token,
        mode=RESTITUTE,
        to_block=both[-1].block_number - 1,
    )
    assert {p.plan_id for p in before} == {21}


def test_restore_mode_reads_mints(w3, demo, timelock, executor_account):
    migrated = demo.address("migrated_vault_share")
    plan = approve_push(
        w3, demo, timelock, plan_id=31, batches=make_batches(ACCOUNTS, AMOUNTS, 4), token=migrated, mode=RESTORE
    )
    execute(w3, demo, executor_account, plan, 0)
    execute(w3, demo, executor_account, plan, 1)

    payments = _payments(w3, demo, [31], migrated, RESTORE)
    assert paid_by_account(payments) == dict(zip(ACCOUNTS, AMOUNTS, strict=True))
    # Read with the wrong mode, the batches do not add up: a loud error, not an empty answer.
    with pytest.raises(PayoutMismatch, match="reports 4 recipients"):
        _payments(w3, demo, [31], migrated, RESTITUTE)


def test_a_blocked_recipient_is_credited_and_still_claimable(w3, demo, timelock, deployer, executor_account):
    token = deploy_blocking_token(w3, demo, deployer, fund=sum(AMOUNTS))
    send(w3, deployer, token.functions.setBlocked(ACCOUNTS[1], True))
    plan = approve_push(
        w3,
        demo,
        timelock,
        plan_id=41,
        batches=make_batches(ACCOUNTS, AMOUNTS, 7),
        token=token.address,
        delivery=PUSH_WITH_FALLBACK,
    )
    execute(w3, demo, executor_account, plan, 0)

    payments = _payments(w3, demo, [41], token.address, RESTITUTE)
    kinds = {p.account: p.kind for p in payments}
    assert kinds[ACCOUNTS[1]] == CREDITED
    assert {kinds[a] for a in ACCOUNTS if a != ACCOUNTS[1]} == {PUSHED}
    assert paid_by_account(payments) == dict(zip(ACCOUNTS, AMOUNTS, strict=True))
    executor = demo.address("recovery_executor")
    outstanding = credits_outstanding(w3, executor, token.address, ACCOUNTS[:3])
    assert outstanding == {ACCOUNTS[0]: 0, ACCOUNTS[1]: AMOUNTS[1], ACCOUNTS[2]: 0}


def test_pull_claims_are_read(w3, demo, timelock, deployer, executor_account):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    plan = approve_pull(w3, demo, timelock, plan_id=51, accounts=ACCOUNTS, amounts=AMOUNTS, token=token)
    tx_hash = claim(w3, demo, executor_account, plan, 2)

    payments = _payments(w3, demo, [51], token, RESTITUTE)
    assert len(payments) == 1
    (payment,) = payments
    assert (payment.kind, payment.account, payment.amount, payment.claim_index) == (
        CLAIMED,
        ACCOUNTS[2],
        AMOUNTS[2],
        2,
    )
    assert payment.batch_index is None and payment.tx_hash == tx_hash


def test_token_deltas_and_pinned_blocks(w3, demo, timelock, deployer, executor_account):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    plan = approve_push(w3, demo, timelock, plan_id=61, batches=make_batches(ACCOUNTS, AMOUNTS, 7), token=token)
    execute(w3, demo, executor_account, plan, 0)
    pinned = pin_block(w3)
    assert pinned.hash == "0x" + bytes(w3.eth.get_block(pinned.number)["hash"]).hex()
    deltas = token_deltas_in_blocks(w3, token, [pinned.hash])
    executor = Web3.to_checksum_address(demo.address("recovery_executor"))
    assert deltas[(pinned.hash, executor)] == -sum(AMOUNTS)
    assert all(deltas[(pinned.hash, a)] == n for a, n in zip(ACCOUNTS, AMOUNTS, strict=True))
    asset = bind(w3, "DemoAsset", token)
    assert int(asset.functions.balanceOf(ACCOUNTS[0]).call()) >= AMOUNTS[0]


def test_claim_status_reads_what_a_pull_claim_checks(w3, demo, timelock, deployer, executor_account, committee_account):
    executor = demo.address("recovery_executor")
    token = fund_executor(w3, demo, deployer, 2 * sum(AMOUNTS))
    plan = approve_pull(w3, demo, timelock, plan_id=71, accounts=ACCOUNTS, amounts=AMOUNTS, token=token)

    open_ = claim_status(w3, executor, 71, 2)
    assert (open_.status, open_.delivery, open_.token, open_.version, open_.current_version) == (
        PLAN_APPROVED,
        PULL,
        token,
        1,
        1,
    )
    assert not open_.paused and not open_.claimed
    assert open_.symbol == bind(w3, "DemoAsset", token).functions.symbol().call() != ""
    head = w3.eth.get_block("latest")
    assert (open_.block, open_.timestamp) == (head["number"], head["timestamp"])
    assert open_.claim_deadline >= open_.timestamp + 86_400

    claim(w3, demo, executor_account, plan, 2)
    assert claim_status(w3, executor, 71, 2).claimed
    assert not claim_status(w3, executor, 71, 3).claimed

    # Version 2 of the same incident supersedes plan 71; the guardian (the committee) pauses.
    approve_pull(w3, demo, timelock, plan_id=72, accounts=ACCOUNTS, amounts=AMOUNTS, token=token, version=2)
    send(w3, committee_account, executor_contract(w3, demo).functions.pause())
    superseded = claim_status(w3, executor, 71, 3)
    assert (superseded.status, superseded.version, superseded.current_version, superseded.paused) == (
        PLAN_APPROVED,
        1,
        2,
        True,
    )
    as_timelock(timelock, executor_contract(w3, demo).functions.revokePlan(72))
    assert claim_status(w3, executor, 72, 0).status == PLAN_REVOKED

    unused = claim_status(w3, executor, 999, 0)
    assert (unused.status, unused.token, unused.claim_deadline, unused.symbol) == (PLAN_NONE, ZERO, 0, "")
    # Not the executor: a contract without getPlan reverts, an account without code answers nothing.
    with pytest.raises(Reverted):
        claim_status(w3, token, 71, 0)
    with pytest.raises(RpcError, match="not the executor"):
        claim_status(w3, ACCOUNTS[0], 71, 0)
