"""The rules' parameters and their pure checks: no database, no chain."""

from datetime import UTC, datetime, timedelta

import pytest

from chain.watch import CallFailed, RoundData, VaultTotals
from monitoring.exceptions import InvalidRuleParams
from monitoring.models import RuleKind
from monitoring.rules import (
    PARAMS,
    WHEN,
    check_answer,
    check_deviation,
    check_drain,
    check_jump,
    check_reachable,
    check_solvency,
    check_stale,
    check_stall,
    check_supply,
    validate_params,
)

FEED = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def _round(answer: int = 10**8, *, round_id: int = 5, updated_at: int = 1_000, answered_in: int | None = None):
    return RoundData(round_id, answer, updated_at, updated_at, round_id if answered_in is None else answered_in)


def test_every_kind_has_parameters_and_a_time_of_evaluation() -> None:
    assert set(PARAMS) == set(RuleKind.values) == set(WHEN)


def test_parameters_are_normalised_with_defaults_and_checksummed_addresses() -> None:
    params = validate_params(RuleKind.ORACLE_STALE, {"feed": FEED.lower(), "heartbeat_seconds": "3600"})
    assert params == {"feed": FEED, "heartbeat_seconds": 3600, "grace_seconds": 0}
    solvency = validate_params(RuleKind.SOLVENCY, {"vault": FEED})
    assert solvency["liabilities"] == "convert_to_assets" and solvency["max_shortfall"] == 0
    assert validate_params(RuleKind.RPC_UNREACHABLE, {}) == {}


@pytest.mark.parametrize(
    ("kind", "params", "field", "words"),
    [
        ("no_such_kind", {}, "kind", "is not one of"),
        (RuleKind.ORACLE_STALE, {"feed": FEED}, "heartbeat_seconds", "needs heartbeat_seconds"),
        (RuleKind.ORACLE_STALE, {"feed": FEED, "heartbeat_seconds": 1, "grace": 5}, "grace", "takes no parameter"),
        (RuleKind.ORACLE_ANSWER, {"feed": "0x1234"}, "feed", "is not an address"),
        (RuleKind.ORACLE_ANSWER, {"feed": FEED.replace("F", "f", 1).replace("b", "B", 1)}, "feed", "checksum"),
        (RuleKind.ORACLE_JUMP, {"feed": FEED, "max_jump_bps": 20.5}, "max_jump_bps", "whole number"),
        (RuleKind.ORACLE_JUMP, {"feed": FEED, "max_jump_bps": True}, "max_jump_bps", "whole number"),
        (RuleKind.ORACLE_JUMP, {"feed": FEED, "max_jump_bps": 0}, "max_jump_bps", "from 1 to"),
        (RuleKind.ORACLE_JUMP, {"feed": FEED, "max_jump_bps": "-5"}, "max_jump_bps", "not a whole number"),
        (
            RuleKind.DRAIN,
            {"contract": FEED, "asset": OTHER, "window_blocks": 5, "max_outflow_bps": 10_001},
            "max_outflow_bps",
            "from 1 to 10000",
        ),
        (
            RuleKind.ORACLE_DEVIATION,
            {"feed": FEED, "reference_feed": FEED.lower(), "max_deviation_bps": 5},
            "reference_feed",
            "the feed itself",
        ),
        (RuleKind.SOLVENCY, {"vault": FEED, "liabilities": "book"}, "liabilities", "convert_to_assets, par"),
        (RuleKind.BLOCK_STALL, {"stall_seconds": None}, "stall_seconds", "needs stall_seconds"),
        (RuleKind.SUPPLY, [], "params", "JSON object"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(kind: str, params: object, field: str, words: str) -> None:
    with pytest.raises(InvalidRuleParams) as caught:
        validate_params(kind, params)  # type: ignore[arg-type]
    assert caught.value.detail["field"] == field
    assert words in caught.value.message
    assert caught.value.status == 400


def test_staleness_fails_only_past_heartbeat_plus_grace() -> None:
    at_limit = check_stale(
        7, _round(updated_at=1_000), 1_000 + 3_660, feed=FEED, heartbeat_seconds=3_600, grace_seconds=60
    )
    past = check_stale(7, _round(updated_at=1_000), 1_000 + 3_661, feed=FEED, heartbeat_seconds=3_600, grace_seconds=60)
    assert at_limit.ok and at_limit.value == 3_660
    assert not past.ok and past.cause == f"stale:{FEED}" and past.value == 3_661
    assert past.values["updated_at"] == "1000" and past.values["limit_seconds"] == "3660"


def test_sanity_fails_on_a_non_positive_answer_and_an_incomplete_round() -> None:
    assert check_answer(1, _round(1), feed=FEED).ok
    assert check_answer(1, _round(0), feed=FEED).cause == f"non_positive_answer:{FEED}"
    assert check_answer(1, _round(-5), feed=FEED).cause == f"non_positive_answer:{FEED}"
    assert check_answer(1, _round(answered_in=4), feed=FEED).cause == f"incomplete_round:{FEED}"
    assert check_answer(1, _round(updated_at=0), feed=FEED).cause == f"incomplete_round:{FEED}"


def test_a_jump_is_measured_against_the_previous_round_in_exact_basis_points() -> None:
    previous = _round(10**8, round_id=4)
    assert check_jump(1, _round(12 * 10**7), previous, feed=FEED, max_jump_bps=2_000).ok  # exactly 20%
    jumped = check_jump(1, _round(12 * 10**7 + 1), previous, feed=FEED, max_jump_bps=2_000)
    assert not jumped.ok and jumped.cause == f"jump:{FEED}" and jumped.value == 2_000
    assert not check_jump(1, _round(8 * 10**7 - 1), previous, feed=FEED, max_jump_bps=2_000).ok
    # Nothing to compare with: the first round, or a previous round that does not exist.
    assert check_jump(1, _round(), None, feed=FEED, max_jump_bps=1).ok
    assert check_jump(1, _round(), CallFailed("getRoundData() reverted"), feed=FEED, max_jump_bps=1).ok


def test_deviation_compares_feeds_of_different_decimals_exactly() -> None:
    # 1.00 (8 decimals) against 1.06 (18 decimals): 566 bps of the reference.
    outcome = check_deviation(1, 10**8, 8, 106 * 10**16, 18, feed=FEED, reference_feed=OTHER, max_deviation_bps=500)
    assert not outcome.ok and outcome.cause == f"deviation:{FEED}" and outcome.value == 566
    assert check_deviation(1, 10**8, 8, 10**18, 18, feed=FEED, reference_feed=OTHER, max_deviation_bps=1).ok
    broken = check_deviation(1, 10**8, 8, 0, 8, feed=FEED, reference_feed=OTHER, max_deviation_bps=500)
    assert broken.cause == f"reference_invalid:{OTHER}"


def test_a_stall_is_wall_clock_time_since_the_head_last_advanced() -> None:
    changed = datetime(2026, 1, 1, tzinfo=UTC)
    assert check_stall(9, changed, changed + timedelta(seconds=30), stall_seconds=30).ok
    stalled = check_stall(9, changed, changed + timedelta(seconds=31), stall_seconds=30)
    assert not stalled.ok and stalled.cause == "stall" and "stalled" in stalled.message and stalled.value == 31


def test_an_unreachable_node_has_its_own_cause_and_message() -> None:
    outcome = check_reachable(None, "connection refused")
    assert outcome.cause == "unreachable" and "did not answer" in outcome.message and outcome.block is None
    assert check_reachable(12).ok


def test_solvency_at_the_vaults_own_price_cannot_fail_but_at_par_it_can() -> None:
    # A vault pricing shares from its own balance: convertToAssets(totalSupply()) == totalAssets.
    lost = VaultTotals(total_assets=900, total_supply=1_000, supply_in_assets=900)
    assert check_solvency(1, lost, vault=FEED, liabilities="convert_to_assets", par_assets=1, par_shares=1,
                          max_shortfall=0).ok  # fmt: skip
    at_par = check_solvency(1, lost, vault=FEED, liabilities="par", par_assets=1, par_shares=1, max_shortfall=0)
    assert not at_par.ok and at_par.cause == f"insolvent:{FEED}" and at_par.value == -100
    assert check_solvency(1, lost, vault=FEED, liabilities="par", par_assets=1, par_shares=1, max_shortfall=100).ok
    # Par rounds the debt up: 3 shares at 1/2 asset each owe 2 assets, not 1.
    odd = VaultTotals(total_assets=1, total_supply=3, supply_in_assets=1)
    assert not check_solvency(1, odd, vault=FEED, liabilities="par", par_assets=1, par_shares=2, max_shortfall=0).ok


def test_supply_must_equal_the_sum_of_balances_exactly() -> None:
    assert check_supply(1, 10**30 + 1, 10**30 + 1, 3, token=FEED, start="x").ok
    off = check_supply(1, 10**30 + 1, 10**30, 3, token=FEED, start="x")
    assert not off.ok and off.value == 1 and off.values["total_supply"] == str(10**30 + 1)


def test_drain_compares_the_windows_outflow_with_the_holdings_at_its_start() -> None:
    kwargs = {"contract": FEED, "asset": OTHER, "window_blocks": 5, "max_outflow_bps": 2_000}
    assert check_drain(10, 200, 1_000, **kwargs).ok  # exactly 20%
    drained = check_drain(10, 201, 1_000, **kwargs)
    assert not drained.ok and drained.cause == f"drain:{FEED}:{OTHER}" and drained.values["window_from"] == "6"
    assert check_drain(10, 500, 0, **kwargs).ok  # nothing held before the window: flows through are not a drain
