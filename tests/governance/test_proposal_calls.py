"""The calls a proposal makes (proposals/calls.py): parameter changes first, then one approvePlan per asset
with something to pay, encoded exactly as RecoveryExecutor.approvePlan takes them."""

import json

import pytest
from eth_abi import decode
from eth_utils import keccak

from proposals.calls import APPROVE_PLAN, EXECUTOR_DELIVERIES, EXECUTOR_MODES, proposal_calls
from proposals.exceptions import ExecutorMismatch
from tests.governance.governors import frozen_document

EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_EXECUTOR = "0x" + "5f" * 20
VAULT = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
TOKEN_A = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
TOKEN_B = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
ROOT_A = "0x" + "11" * 32
ROOT_B = "0x" + "22" * 32
ALLOCATION_A = "0x" + "33" * 32
INCIDENT_KEY = "0x" + "44" * 32
APPROVE_TYPES = ["uint256", "bytes32", "uint64", "bytes32", "address", "uint8", "uint8", "uint32", "uint256", "uint64"]


def _content(
    *,
    mode: str = "restitute",
    delivery: str = "push",
    batch_counts: tuple[int, int] = (3, 2),
    recipients: tuple[int, int] = (30, 20),
    deadline: int | None = None,
) -> dict:
    pause = "0x" + keccak(text="pause()")[:4].hex()
    return {
        "plan": {
            "id": 9,
            "version": 2,
            "mode": mode,
            "delivery": delivery,
            "claim_deadline": deadline,
            "incident_key": INCIDENT_KEY,
            "recovery_executor": EXECUTOR,
        },
        "parameter_changes": [
            {"index": 0, "target": VAULT, "value": "0", "signature": "pause()", "args": [], "calldata": pause},
            {"index": 1, "target": VAULT, "value": "7", "signature": "pause()", "args": [], "calldata": pause},
        ],
        "assets": [
            {
                "asset": "0x" + "aa" * 20,
                "onchain_plan_id": "1001",
                "commitment_root": ROOT_A,
                "allocation_root": ALLOCATION_A,
                "payout_token": TOKEN_A,
                "batch_count": batch_counts[0],
                "recipients": recipients[0],
                "total_allocated": "123456789012345678901234567890",
            },
            {
                "asset": "0x" + "bb" * 20,
                "onchain_plan_id": "1002",
                "commitment_root": ROOT_B,
                "allocation_root": "0x" + "55" * 32,
                "payout_token": TOKEN_B,
                "batch_count": batch_counts[1],
                "recipients": recipients[1],
                "total_allocated": "5",
            },
        ],
    }


def _approve_args(calldata: str) -> tuple:
    raw = bytes.fromhex(calldata[2:])
    assert raw[:4] == keccak(text=APPROVE_PLAN)[:4]
    return decode(APPROVE_TYPES, raw[4:])


def test_parameter_changes_come_first_in_their_order_then_one_approve_plan_per_asset():
    calls = proposal_calls(_content(), recovery_executor=EXECUTOR)
    assert [c.signature for c in calls] == ["pause()", "pause()", APPROVE_PLAN, APPROVE_PLAN]
    assert [c.target for c in calls] == [VAULT, VAULT, EXECUTOR, EXECUTOR]
    assert [c.value for c in calls] == [0, 7, 0, 0]
    assert calls[2].plan_asset == "0x" + "aa" * 20 and calls[0].plan_asset is None


def test_approve_plan_carries_the_ten_terms_of_a_push_plan_with_an_exact_budget():
    calls = proposal_calls(_content(), recovery_executor=EXECUTOR)
    plan_id, key, version, root, token, mode, delivery, batches, budget, deadline = _approve_args(calls[2].calldata)
    assert plan_id == 1001 and "0x" + key.hex() == INCIDENT_KEY and version == 2
    assert "0x" + root.hex() == ROOT_A  # the batch commitment
    assert token.lower() == TOKEN_A.lower()
    assert mode == EXECUTOR_MODES["restitute"] == 0
    assert delivery == EXECUTOR_DELIVERIES["push"] == 0
    assert batches == 3
    assert budget == 123456789012345678901234567890  # beyond a float's precision, exact
    assert deadline == 0


def test_a_push_fallback_plan_approves_delivery_one():
    calls = proposal_calls(_content(delivery="push_fallback"), recovery_executor=EXECUTOR)
    assert _approve_args(calls[2].calldata)[6] == 1


def test_a_pull_plan_approves_the_allocation_root_its_allocation_count_and_its_deadline():
    calls = proposal_calls(
        _content(delivery="pull", batch_counts=(0, 0), deadline=1_900_000_000), recovery_executor=EXECUTOR
    )
    _, _, _, root, _, _, delivery, count, _, deadline = _approve_args(calls[2].calldata)
    assert "0x" + root.hex() == ALLOCATION_A
    assert (delivery, count, deadline) == (2, 30, 1_900_000_000)
    assert "30 claims until 1900000000" in calls[2].summary


def test_a_restore_plan_approves_in_mode_one():
    calls = proposal_calls(_content(mode="restore"), recovery_executor=EXECUTOR)
    assert _approve_args(calls[2].calldata)[5] == 1


def test_an_asset_with_zero_batches_gives_no_approve_plan_call():
    calls = proposal_calls(_content(batch_counts=(0, 2)), recovery_executor=EXECUTOR)
    assert [c.signature for c in calls] == ["pause()", "pause()", APPROVE_PLAN]
    assert _approve_args(calls[2].calldata)[0] == 1002


def test_a_document_without_changes_or_batches_makes_no_calls():
    content = {**_content(batch_counts=(0, 0)), "parameter_changes": []}
    assert proposal_calls(content, recovery_executor=EXECUTOR) == []


def test_the_calls_are_json_with_amounts_as_strings():
    encoded = [call.as_json() for call in proposal_calls(_content(), recovery_executor=EXECUTOR)]
    assert json.loads(json.dumps(encoded)) == encoded
    assert all(isinstance(call["value"], str) for call in encoded)
    assert encoded[2]["args"][8] == "123456789012345678901234567890"


def test_approving_on_another_executor_than_the_plans_is_a_conflict():
    with pytest.raises(ExecutorMismatch, match="bound to the RecoveryExecutor") as refused:
        proposal_calls(_content(), recovery_executor=OTHER_EXECUTOR)
    assert refused.value.status == 409


@pytest.mark.django_db
@pytest.mark.chain
def test_a_frozen_real_plan_approves_every_asset_with_batches_on_the_venues_executor(anvil, exploited, chain_settings):
    document = frozen_document(anvil, exploited)
    content = json.loads(document.canonical_bytes)
    executor = content["plan"]["recovery_executor"]
    calls = proposal_calls(content, recovery_executor=executor)
    with_batches = [a for a in content["assets"] if a["batch_count"]]
    assert with_batches, "the exploited demo vault gives a plan with batches"
    assert len(calls) == len(with_batches)
    for call, asset in zip(calls, with_batches, strict=True):
        plan_id, key, version, root, _, _, delivery, batches, budget, _ = _approve_args(call.calldata)
        assert (plan_id, "0x" + root.hex(), batches, budget) == (
            int(asset["onchain_plan_id"]),
            asset["commitment_root"],
            asset["batch_count"],
            int(asset["total_allocated"]),
        )
        assert "0x" + key.hex() == content["plan"]["incident_key"] and version == content["plan"]["version"]
        assert delivery == EXECUTOR_DELIVERIES[content["plan"]["delivery"]]
        assert call.target == executor
