"""The monitor engine on the session's anvil: each rule fires on its cause and stays quiet on the
healthy chain; debounce, de-duplication, catch-up after downtime, reorgs, node faults."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.anvil import free_port
from chain.artifacts import bind
from chain.demo import DemoDeployment, exploit_vault, holder_account
from chain.transact import send
from monitoring import engine, rules
from monitoring.models import Firing, FiringStatus, Observation, ResponseKind, RuleState, WatchedDeployment
from monitoring.setup import watch_demo
from recovery.models import Incident, IncidentKind
from tests.monitoring.engine_helpers import SwitchableProxy, mine, only, rule, run, set_answer, set_round_data

pytestmark = pytest.mark.chain


@pytest.fixture
def responded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """The ``respond`` calls the engine makes after its commits, recorded instead of pausing."""
    calls: list[tuple[int, bool]] = []
    monkeypatch.setattr(engine, "respond", lambda firing_id, *, newly_opened: calls.append((firing_id, newly_opened)))
    return calls


@pytest.fixture
def watched(demo: DemoDeployment, chain_settings: object, db: None) -> Iterator[WatchedDeployment]:
    """The dev deployment watched with the default rules; the supply rule's running sums start empty."""
    rules._SUPPLY_STATE.clear()
    yield watch_demo(rpc_url=demo.rpc_url)
    rules._SUPPLY_STATE.clear()


def test_the_healthy_dev_chain_fires_nothing(
    w3: Web3, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks: object
) -> None:
    first = run(watched, commits=django_capture_on_commit_callbacks)
    mine(w3, 3)
    second = run(watched, commits=django_capture_on_commit_callbacks)

    assert first.from_block == first.to_block == first.head  # a new monitor starts at the head
    assert (second.from_block, second.to_block) == (first.to_block + 1, first.to_block + 3)
    assert not Observation.objects.filter(ok=False).exists()
    states = dict(watched.rules.filter(enabled=True).values_list("name", "state"))
    assert set(states.values()) == {RuleState.OK}, states
    assert "block-stall" not in states  # created disabled: the dev chain mines only on transactions
    assert not Firing.objects.exists() and not responded
    watched.refresh_from_db()
    assert watched.last_block == second.to_block
    assert watched.last_block_hash == w3.eth.get_block(second.to_block)["hash"].to_0x_hex()
    observation = Observation.objects.filter(rule__name="oracle-stale").first()
    assert observation.block_hash and observation.source == f"127.0.0.1:{w3.provider.endpoint_uri.rsplit(':', 1)[1]}"
    assert observation.values["answer"] == str(10**8)


def test_a_stale_feed_fires_opens_an_oracle_incident_and_resolves_when_fresh(
    w3: Web3,
    demo: DemoDeployment,
    watched: WatchedDeployment,
    responded: list,
    django_capture_on_commit_callbacks: object,
) -> None:
    only(watched, "oracle-stale")
    run(watched, commits=django_capture_on_commit_callbacks)
    w3.provider.make_request("evm_increaseTime", [3_600 + 61])
    stale_block = mine(w3)
    result = run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert result.opened == [firing.pk] and responded == [(firing.pk, True)]
    assert firing.cause == f"stale:{demo.address('price_feed')}" and firing.first_block == stale_block
    assert firing.evidence[0]["block_hash"] == w3.eth.get_block(stale_block)["hash"].to_0x_hex()
    incident = firing.incident
    assert incident.kind == IncidentKind.ORACLE_FAILURE and incident.opened_via == "monitor:dev/oracle-stale"
    assert incident.detected_block == stale_block and demo.address("price_feed") in incident.affected_contracts
    assert str(stale_block) in incident.description
    assert rule(watched, "oracle-stale").state == RuleState.FIRING

    fresh_block = set_answer(w3, demo, "price_feed", 10**8)
    result = run(watched, commits=django_capture_on_commit_callbacks)
    firing.refresh_from_db()
    assert result.resolved == [firing.pk]
    assert firing.status == FiringStatus.RESOLVED and firing.resolution == f"healthy again at block {fresh_block}"
    assert rule(watched, "oracle-stale").state == RuleState.OK


def test_a_non_positive_answer_and_an_incomplete_round_each_fire_the_sanity_rule(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "oracle-sanity")
    run(watched, commits=django_capture_on_commit_callbacks)
    set_answer(w3, demo, "price_feed", 0)
    run(watched, commits=django_capture_on_commit_callbacks)
    set_round_data(w3, demo, 10**8, 0)  # updatedAt 0: a round that never completed
    run(watched, commits=django_capture_on_commit_callbacks)

    feed = demo.address("price_feed")
    causes = sorted(Firing.objects.values_list("cause", flat=True))
    assert causes == [f"incomplete_round:{feed}", f"non_positive_answer:{feed}"]
    # A new cause within one failing streak opens its own firing; both belong to one streak.
    assert rule(watched, "oracle-sanity").consecutive_failures == 2


def test_a_jump_between_rounds_fires_the_jump_rule(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "oracle-jump")
    run(watched, commits=django_capture_on_commit_callbacks)
    set_answer(w3, demo, "price_feed", 119 * 10**6)  # +19%: under the 20% threshold
    run(watched, commits=django_capture_on_commit_callbacks)
    assert not Firing.objects.exists()
    jump_block = set_answer(w3, demo, "price_feed", 150 * 10**6)  # +26% from 1.19
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.first_block == jump_block and firing.evidence[0]["values"]["previous_answer"] == str(119 * 10**6)


def test_a_second_source_moving_alone_fires_the_deviation_rule_only(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "oracle-deviation", "oracle-jump", "oracle-sanity")
    run(watched, commits=django_capture_on_commit_callbacks)
    set_answer(w3, demo, "reference_feed", 104 * 10**6)  # 384 bps apart: under 500
    run(watched, commits=django_capture_on_commit_callbacks)
    assert not Firing.objects.exists()
    set_answer(w3, demo, "reference_feed", 106 * 10**6)  # 566 bps apart
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.rule.name == "oracle-deviation" and firing.cause == f"deviation:{demo.address('price_feed')}"
    assert firing.evidence[0]["value"] == "566"


def test_the_demo_exploit_trips_drain_detection_at_its_block_and_the_vault_stays_solvent(
    w3: Web3,
    demo: DemoDeployment,
    attacker: LocalAccount,
    watched: WatchedDeployment,
    responded: list,
    django_capture_on_commit_callbacks,
) -> None:
    run(watched, commits=django_capture_on_commit_callbacks)
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    _, tx_hash = exploit_vault(w3, demo, attacker=attacker, victims=victims)
    exploit_block = w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.rule.name == "vault-drain" and firing.first_block == exploit_block
    assert firing.cause == f"drain:{demo.address('vault')}:{demo.address('asset')}"
    assert int(firing.evidence[0]["values"]["outflow_bps"]) > 5_000
    assert firing.incident.kind == IncidentKind.PROTOCOL_EXPLOIT and responded == [(firing.pk, True)]
    # The exploit burns the victims' shares as it takes their assets: a theft, not an insolvency.
    assert rule(watched, "vault-solvency").state == RuleState.OK
    assert rule(watched, "asset-supply").state == RuleState.OK


def test_a_new_monitor_does_not_judge_a_drain_from_before_it_watched_but_a_later_one_fires(
    w3: Web3,
    demo: DemoDeployment,
    attacker: LocalAccount,
    watched: WatchedDeployment,
    responded: list,
    django_capture_on_commit_callbacks,
) -> None:
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    exploit_vault(w3, demo, attacker=attacker, victims=victims[:3])  # history: within the 5-block window
    started = mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)
    watched.refresh_from_db()
    assert watched.watching_since == started and not Firing.objects.exists()

    _, tx_hash = exploit_vault(w3, demo, attacker=attacker, victims=victims[3:])
    run(watched, commits=django_capture_on_commit_callbacks)
    (firing,) = Firing.objects.all()
    assert firing.first_block == w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]
    assert int(firing.evidence[0]["values"]["window_from"]) > started - 1


def test_a_holder_withdrawing_their_own_share_is_not_a_drain(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    run(watched, commits=django_capture_on_commit_callbacks)
    vault = bind(w3, "DemoVault", demo.address("vault"))
    for index in (1, 2):  # two of the larger holders leave in the same window
        holder = holder_account(index)
        shares = vault.functions.balanceOf(holder.address).call()
        send(w3, holder, vault.functions.redeem(shares, holder.address, holder.address))
    run(watched, commits=django_capture_on_commit_callbacks)

    assert not Firing.objects.exists()
    last = Observation.objects.filter(rule__name="vault-drain").first()
    assert last.ok and 0 < int(last.values["outflow_bps"]) < 2_000


def test_a_monitor_that_was_down_checks_the_missed_blocks_and_fires_at_the_exploits_block(
    w3: Web3,
    demo: DemoDeployment,
    attacker: LocalAccount,
    watched: WatchedDeployment,
    responded: list,
    django_capture_on_commit_callbacks,
) -> None:
    run(watched, commits=django_capture_on_commit_callbacks)
    WatchedDeployment.objects.filter(pk=watched.pk).update(max_catch_up_blocks=4)
    mine(w3, 3)
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    _, tx_hash = exploit_vault(w3, demo, attacker=attacker, victims=victims)
    exploit_block = w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]
    head = mine(w3, 10)  # the drained vault stays drained: later blocks are past the window

    first = run(watched, commits=django_capture_on_commit_callbacks)
    assert first.behind == head - first.to_block > 0  # bounded: the rest waits for the next run
    while watched.__class__.objects.get(pk=watched.pk).last_block < head:
        run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.filter(rule__name="vault-drain")
    assert firing.first_block == exploit_block
    assert firing.evidence[0]["block_number"] == exploit_block
    assert firing.evidence[0]["block_hash"] == w3.eth.get_block(exploit_block)["hash"].to_0x_hex()
    # Each missed block was checked: the window ends 5 blocks on, then the rule is healthy again.
    failing = list(
        Observation.objects.filter(rule__name="vault-drain", ok=False).values_list("block_number", flat=True)
    )
    assert sorted(failing) == list(range(exploit_block, exploit_block + 5))
    firing.refresh_from_db()
    assert firing.status == FiringStatus.RESOLVED and firing.resolution == f"healthy again at block {exploit_block + 5}"


def test_debounce_fires_after_the_configured_failures_in_a_row_and_a_healthy_one_resets_it(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "oracle-sanity")
    watched.rules.filter(name="oracle-sanity").update(consecutive_needed=3)
    run(watched, commits=django_capture_on_commit_callbacks)
    set_answer(w3, demo, "price_feed", 0)
    mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)
    assert rule(watched, "oracle-sanity").state == RuleState.FAILING and not Firing.objects.exists()
    set_answer(w3, demo, "price_feed", 10**8)  # healthy again: the count starts over
    set_answer(w3, demo, "price_feed", 0)
    mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)
    assert rule(watched, "oracle-sanity").consecutive_failures == 2 and not Firing.objects.exists()
    third = mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)
    mine(w3, 2)
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()  # a streak that goes on updates the open firing
    assert firing.first_block == third - 2 and firing.last_block == third + 2 and firing.times_fired == 1
    assert [e["block_number"] for e in firing.evidence][:3] == [third - 2, third - 1, third]
    assert responded == [(firing.pk, True)]


def test_block_stall_fires_when_automine_stops_and_resolves_when_blocks_come_back(
    w3: Web3, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "block-stall", "rpc-unreachable")
    watched.rules.filter(name="block-stall").update(params={"stall_seconds": 30}, response=ResponseKind.INCIDENT)
    t0 = timezone.now()
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        run(watched, now=t0, commits=django_capture_on_commit_callbacks)
        run(watched, now=t0 + timedelta(seconds=20), commits=django_capture_on_commit_callbacks)
        assert rule(watched, "block-stall").state == RuleState.OK
        run(watched, now=t0 + timedelta(seconds=31), commits=django_capture_on_commit_callbacks)
        assert rule(watched, "block-stall").state == RuleState.FAILING
        run(watched, now=t0 + timedelta(seconds=40), commits=django_capture_on_commit_callbacks)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    (firing,) = Firing.objects.all()
    assert firing.cause == "stall" and "stalled" in firing.message
    assert rule(watched, "rpc-unreachable").state == RuleState.OK  # the node answered all along

    mine(w3)
    run(watched, now=t0 + timedelta(seconds=41), commits=django_capture_on_commit_callbacks)
    firing.refresh_from_db()
    assert firing.status == FiringStatus.RESOLVED


def test_an_unreachable_node_is_its_own_rule_and_never_a_stall(
    watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    run(watched, commits=django_capture_on_commit_callbacks)
    watched.rules.filter(name="block-stall").update(enabled=True, params={"stall_seconds": 1})
    WatchedDeployment.objects.filter(pk=watched.pk).update(
        rpc_url=f"http://user:secret-pw@127.0.0.1:{free_port()}/key-123456"
    )
    later = timezone.now() + timedelta(seconds=120)
    for step in range(3):
        result = run(watched, now=later + timedelta(seconds=step), commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.cause == "unreachable" and firing.rule.name == "rpc-unreachable"
    assert (
        "did not answer" in firing.message and "secret-pw" not in firing.message and "key-123456" not in firing.message
    )
    assert not Observation.objects.filter(rule__name="block-stall").exists()
    watched.refresh_from_db()
    assert watched.last_error and "secret-pw" not in watched.last_error and "key-123456" not in result.error
    assert (
        Observation.objects.filter(rule__name="rpc-unreachable", ok=False).first().source
        == "127.0.0.1:" + watched.rpc_url.rsplit(":", 1)[1].split("/")[0]
    )


@pytest.mark.parametrize("needed", [3, 1])
def test_a_flapping_node_opens_one_incident(
    anvil: object,
    watched: WatchedDeployment,
    responded: list,
    django_capture_on_commit_callbacks,
    needed: int,
) -> None:
    proxy = SwitchableProxy(anvil.url)  # type: ignore[attr-defined]
    try:
        WatchedDeployment.objects.filter(pk=watched.pk).update(rpc_url=proxy.url)
        watched.rules.filter(name="rpc-unreachable").update(response=ResponseKind.INCIDENT, consecutive_needed=needed)
        proxy.up = False
        for _ in range(needed):
            run(watched, commits=django_capture_on_commit_callbacks)
        for _ in range(10):
            proxy.up = True
            run(watched, commits=django_capture_on_commit_callbacks)
            proxy.up = False
            run(watched, commits=django_capture_on_commit_callbacks)
    finally:
        proxy.close()

    firings = Firing.objects.filter(rule__name="rpc-unreachable")
    assert Incident.objects.count() == 1
    assert {f.incident_id for f in firings} == {Incident.objects.get().pk}
    if needed > 1:
        assert firings.count() == 1  # the blips never reach the debounce again
    else:
        assert firings.count() == 11  # each blip fires, and joins the one incident of the cause
    assert firings.filter(status=FiringStatus.OPEN).count() <= 1


def test_a_reorg_of_the_processed_range_is_checked_again(
    w3: Web3, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    run(watched, commits=django_capture_on_commit_callbacks)
    mine(w3, 3)
    before = run(watched, commits=django_capture_on_commit_callbacks)
    old_hash = w3.eth.get_block(before.to_block)["hash"].to_0x_hex()
    # The replaced blocks carry a transaction: empty replacements sealed in the same second as the
    # originals would have the very same hashes (same parent, same timestamp, nothing inside).
    sender = holder_account(0)
    moved = sender.sign_transaction(
        {
            "to": sender.address,
            "value": 0,
            "gas": 21_000,
            "gasPrice": 10 * 10**9,
            "nonce": w3.eth.get_transaction_count(sender.address),
            "chainId": w3.eth.chain_id,
        }
    )
    reorg = w3.provider.make_request("anvil_reorg", [2, [["0x" + bytes(moved.raw_transaction).hex(), 0]]])
    assert reorg.get("error") is None
    assert w3.eth.get_block(before.to_block)["hash"].to_0x_hex() != old_hash

    after = run(watched, commits=django_capture_on_commit_callbacks)
    # The newest recorded block still on the chain is the first run's head: checked again after it.
    assert after.reorg_from == before.from_block
    assert after.from_block == before.from_block
    watched.refresh_from_db()
    assert watched.last_block_hash == w3.eth.get_block(watched.last_block)["hash"].to_0x_hex()


def test_a_feed_that_reverts_is_a_recorded_failure_and_the_other_rules_go_on(
    demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    not_a_feed = demo.address("vault")
    watched.rules.filter(name="oracle-sanity").update(params={"feed": not_a_feed})
    watched.rules.filter(name="oracle-jump").update(params={"feed": "0x1234"})  # stored bypassing validation
    run(watched, commits=django_capture_on_commit_callbacks)

    sanity = Observation.objects.get(rule__name="oracle-sanity")
    assert not sanity.ok and sanity.cause == f"unreadable:{not_a_feed}" and "latestRoundData()" in sanity.message
    broken = Observation.objects.get(rule__name="oracle-jump")
    assert broken.cause == engine.EVALUATION_ERROR and "parameters are invalid" in broken.message
    assert rule(watched, "oracle-jump").state == RuleState.UNKNOWN  # an error is not a failing observation
    assert rule(watched, "oracle-stale").state == RuleState.OK
    watched.refresh_from_db()
    assert "oracle-jump" in watched.last_error


def test_the_supply_rule_fires_when_the_supply_changes_without_a_transfer(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "asset-supply")
    run(watched, commits=django_capture_on_commit_callbacks)
    assert rule(watched, "asset-supply").state == RuleState.OK
    asset = demo.address("asset")
    supply = bind(w3, "DemoAsset", asset).functions.totalSupply().call()
    slot = next(
        i for i in range(12) if int.from_bytes(w3.eth.get_storage_at(asset, i), "big") == supply
    )  # OpenZeppelin's ERC20 keeps _totalSupply in a plain slot
    w3.provider.make_request("anvil_setStorageAt", [asset, hex(slot), "0x" + (supply + 7).to_bytes(32, "big").hex()])
    block = mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.cause == f"supply_mismatch:{asset}" and firing.first_block == block
    assert firing.evidence[0]["values"]["difference"] == "7"
    assert "running sums" in firing.evidence[0]["values"]["replayed_from"]  # the second run continued the first


def test_the_supply_rule_starts_from_a_stored_balance_snapshot(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    from chain.balances import balances_at
    from chain.replay import pack_balances
    from recovery.models import BalanceSnapshot

    only(watched, "asset-supply")
    asset = demo.address("asset")
    block = mine(w3)
    balances = balances_at(demo.rpc_url, asset, block, from_block=demo.contracts["asset"].block)
    BalanceSnapshot.objects.create(
        chain_id=demo.chain_id, token=asset, block=block, block_hash=w3.eth.get_block(block)["hash"].to_0x_hex(),
        from_block=0, account_count=len(balances), balances=pack_balances(balances),
    )  # fmt: skip
    mine(w3)
    run(watched, commits=django_capture_on_commit_callbacks)
    observation = Observation.objects.get(rule__name="asset-supply")
    assert observation.ok and observation.values["replayed_from"] == f"balance snapshot at block {block}"


def test_solvency_at_par_fires_when_collateral_leaves_without_burning_shares(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    only(watched, "vault-solvency")
    run(watched, commits=django_capture_on_commit_callbacks)
    vault, asset = demo.address("vault"), bind(w3, "DemoAsset", demo.address("asset"))
    w3.provider.make_request("anvil_impersonateAccount", [vault])
    w3.provider.make_request("anvil_setBalance", [vault, hex(10**18)])
    try:  # a loss: collateral leaves the vault, every share is still out
        tx = asset.functions.transfer(demo.deployer, 10**6).transact({"from": vault})
        block = w3.eth.wait_for_transaction_receipt(tx)["blockNumber"]
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [vault])
    run(watched, commits=django_capture_on_commit_callbacks)

    (firing,) = Firing.objects.all()
    assert firing.cause == f"insolvent:{vault}" and firing.first_block == block
    assert firing.evidence[0]["value"] == str(-(10**6)) and firing.incident.kind == IncidentKind.PROTOCOL_EXPLOIT


def test_one_open_firing_per_cause_is_a_database_constraint_and_the_engine_joins_it(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    sanity = rule(watched, "oracle-sanity")
    cause = f"non_positive_answer:{demo.address('price_feed')}"
    existing = Firing.objects.create(rule=sanity, cause=cause, message="opened by another run")
    with pytest.raises(IntegrityError), transaction.atomic():
        Firing.objects.create(rule=sanity, cause=cause)
    only(watched, "oracle-sanity")
    set_answer(w3, demo, "price_feed", 0)
    run(watched, commits=django_capture_on_commit_callbacks)

    assert list(Firing.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.times_fired == 2 and responded == [(existing.pk, False)]


def test_a_deployment_another_process_is_running_is_skipped(
    watched: WatchedDeployment, django_capture_on_commit_callbacks
) -> None:
    assert engine.acquire_lease(watched.pk, owner="other-worker")
    assert engine.run_watched(watched.pk) is None
    assert not Observation.objects.exists()
    WatchedDeployment.objects.filter(pk=watched.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert engine.run_watched(watched.pk) is not None  # an expired lease (a worker that died) is taken over
    watched.refresh_from_db()
    assert watched.lease_owner == "" and watched.lease_until is None


def test_watch_demo_is_idempotent_and_keeps_tuned_thresholds(watched: WatchedDeployment, capsys) -> None:
    watched.rules.filter(name="vault-drain").update(
        params={**rule(watched, "vault-drain").params, "max_outflow_bps": 1234}
    )
    call_command("monitor", "watch-demo")
    call_command("monitor", "watch-demo")

    assert WatchedDeployment.objects.count() == 1 and watched.rules.count() == 9
    assert rule(watched, "vault-drain").params["max_outflow_bps"] == 1234
    drain = rule(watched, "vault-drain")
    assert drain.response == ResponseKind.PAUSE and len(drain.pause_targets) == 2
    # A wrong price stops liquidations first: the oracle rules pause the margin market, then the same two.
    market = watched.deployment.contracts.get(role="margin_market").address
    for name in ("oracle-stale", "oracle-sanity", "oracle-jump", "oracle-deviation"):
        assert rule(watched, name).pause_targets == [market, *drain.pause_targets]
    out = capsys.readouterr().out
    assert "vault-drain" in out and "rpc-unreachable" in out


def test_monitor_run_once_and_list(w3: Web3, watched: WatchedDeployment, capsys, responded: list) -> None:
    call_command("monitor", "run", "--once", "--name", "dev")
    call_command("monitor", "list")
    out = capsys.readouterr().out
    assert f"dev: head {w3.eth.block_number}" in out
    assert "oracle-stale" in out and " ok" in out and "disabled" in out


def test_a_node_serving_another_chain_is_reported_with_its_own_cause(
    watched: WatchedDeployment, responded: list, django_capture_on_commit_callbacks
) -> None:
    WatchedDeployment.objects.filter(pk=watched.pk).update(chain_id=1)
    result = run(watched, commits=django_capture_on_commit_callbacks)

    (observation,) = Observation.objects.all()
    assert observation.rule.name == "rpc-unreachable" and observation.cause == "wrong_chain"
    assert "serves chain 31337, not 1" in observation.message and result.error == observation.message
    watched.refresh_from_db()
    assert watched.last_block is None  # nothing was checked on the wrong chain


def test_a_monitor_that_raises_is_recorded_and_the_others_go_on(
    watched: WatchedDeployment, responded: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = WatchedDeployment.objects.create(name="other", chain_id=watched.chain_id, rpc_url=watched.rpc_url)
    real = engine._run

    def broken(row: WatchedDeployment, *, now: object) -> engine.RunResult:
        if row.name == "dev":
            raise RuntimeError(f"bug while reading {row.rpc_url}/secret-path-123")
        return real(row, now=now)

    monkeypatch.setattr(engine, "_run", broken)
    results = engine.run_due()

    assert [r.watched for r in results] == ["other"]
    watched.refresh_from_db()
    other.refresh_from_db()
    assert "RuntimeError: bug while reading" in watched.last_error and "secret-path-123" not in watched.last_error
    assert watched.lease_owner == "" and other.last_run_at is not None


def test_the_command_names_what_is_missing(db: None, settings: object) -> None:
    from django.core.management.base import CommandError

    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="no deployment is recorded for the configured chain"):
        call_command("monitor", "watch-demo")
    with pytest.raises(CommandError, match="no watched deployment named 'nope'"):
        call_command("monitor", "run", "--once", "--name", "nope")
