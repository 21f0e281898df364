"""The pause log on the session's anvil, through the monitor's runs: pauses and unpauses sent outside
Lifeboat are recorded once each with their sender; an unpause a committee member asks for is recorded
(who asked, the transaction) before its broadcast, and the monitor's scan completes that same record."""

from collections.abc import Iterator

import pytest
from web3 import Web3

from chain import devkeys
from chain import sender as chain_sender
from chain.artifacts import bind
from chain.demo import DemoDeployment
from chain.guardian import is_paused
from chain.keys import load_account
from chain.transact import send
from monitoring import engine, pausing, rules
from monitoring.models import PauseAction, PauseRecord, PauseStatus, WatchedDeployment
from monitoring.setup import watch_demo
from tests.factories import UserFactory
from tests.monitoring.engine_helpers import mine, only, run

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


@pytest.fixture
def guardian(settings: object) -> str:
    keys = settings.LIFEBOAT_KEYS  # type: ignore[attr-defined]
    settings.LIFEBOAT_KEYS = {  # type: ignore[attr-defined]
        **keys,
        "guardian": {**keys["guardian"], "private_key": devkeys.COMMITTEE_KEY, "keystore": ""},
    }
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10  # type: ignore[attr-defined]
    return load_account(private_key=devkeys.COMMITTEE_KEY).address


@pytest.fixture
def watched(
    demo: DemoDeployment, chain_settings: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WatchedDeployment]:
    """The dev deployment watched with one quiet rule, its responses left out, already run once
    (a new monitor starts at the head: the next run covers what the test does)."""
    monkeypatch.setattr(engine, "respond", lambda firing_id, *, newly_opened: None)
    rules._SUPPLY_STATE.clear()
    watched = watch_demo(rpc_url=demo.rpc_url)
    only(watched, "oracle-stale")
    engine.run_watched(watched.pk)
    yield watched
    rules._SUPPLY_STATE.clear()


def test_pauses_and_unpauses_sent_outside_lifeboat_are_logged_once_with_their_sender(
    w3: Web3, demo: DemoDeployment, watched: WatchedDeployment, committee_account, django_capture_on_commit_callbacks
) -> None:
    vault, executor = demo.address("vault"), demo.address("recovery_executor")
    # The guardian's own wallet, straight to the contracts (no Lifeboat in the path).
    paused = send(w3, committee_account, bind(w3, "DemoVault", vault).functions.pause())
    executor_paused = send(w3, committee_account, bind(w3, "RecoveryExecutor", executor).functions.pause())
    unpaused = send(w3, committee_account, bind(w3, "DemoVault", vault).functions.unpause())

    first = run(watched, commits=django_capture_on_commit_callbacks)

    assert first.to_block == unpaused["blockNumber"]
    records = list(PauseRecord.objects.order_by("block_number", "pk"))
    assert [(r.contract, r.action, r.tx_hash, r.block_number) for r in records] == [
        (vault, PauseAction.PAUSE, paused["transactionHash"].to_0x_hex(), paused["blockNumber"]),
        (executor, PauseAction.PAUSE, executor_paused["transactionHash"].to_0x_hex(), executor_paused["blockNumber"]),
        (vault, PauseAction.UNPAUSE, unpaused["transactionHash"].to_0x_hex(), unpaused["blockNumber"]),
    ]
    assert {(r.by_address, r.by_user, r.firing, r.status) for r in records} == {
        (committee_account.address, None, None, PauseStatus.DONE)
    }

    mine(w3, 2)
    second = run(watched, commits=django_capture_on_commit_callbacks)

    assert second.from_block == first.to_block + 1
    assert PauseRecord.objects.count() == 3


def test_a_node_failing_the_log_read_records_nothing_and_the_next_run_covers_the_blocks(
    w3: Web3,
    demo: DemoDeployment,
    watched: WatchedDeployment,
    committee_account,
    django_capture_on_commit_callbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chain.errors import RpcUnavailable

    vault = demo.address("vault")
    before = WatchedDeployment.objects.get(pk=watched.pk).last_block
    send(w3, committee_account, bind(w3, "DemoVault", vault).functions.pause())

    def down(*_: object, **__: object) -> list:
        raise RpcUnavailable("the node at 127.0.0.1 did not answer eth_getLogs")

    with monkeypatch.context() as patched:
        patched.setattr(pausing.chain_guardian, "pause_events", down)
        failed = run(watched, commits=django_capture_on_commit_callbacks)
    assert failed.error and WatchedDeployment.objects.get(pk=watched.pk).last_block == before
    assert not PauseRecord.objects.exists()

    again = run(watched, commits=django_capture_on_commit_callbacks)

    assert again.from_block == before + 1 and not again.error
    assert PauseRecord.objects.get().by_address == committee_account.address


def test_an_unpause_asked_by_a_member_is_recorded_before_its_broadcast_and_the_scan_completes_it(
    w3: Web3,
    demo: DemoDeployment,
    watched: WatchedDeployment,
    guardian: str,
    committee_account,
    django_capture_on_commit_callbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault = demo.address("vault")
    send(w3, committee_account, bind(w3, "DemoVault", vault).functions.pause())
    run(watched, commits=django_capture_on_commit_callbacks)
    member = UserFactory(committee=True)
    real_broadcast = chain_sender.broadcast
    seen_before_broadcast: list[PauseRecord] = []

    def crash_after_sending(w3_: Web3, raw: bytes) -> object:
        seen_before_broadcast.extend(PauseRecord.objects.filter(action=PauseAction.UNPAUSE))
        real_broadcast(w3_, raw)
        raise RuntimeError("the process died right after sending")

    with monkeypatch.context() as patched:
        patched.setattr(chain_sender, "broadcast", crash_after_sending)
        with pytest.raises(RuntimeError):
            pausing.unpause(contract=vault, user=member, note="oracle fixed")

    (asked,) = seen_before_broadcast
    assert not is_paused(w3, vault)  # it was sent (and mined), but the receipt was never read
    record = PauseRecord.objects.get(action=PauseAction.UNPAUSE)
    assert record.pk == asked.pk and record.status == PauseStatus.PENDING and record.block_number is None
    assert (record.by_user, record.by_address, record.note) == (member, guardian, "oracle fixed")
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)

    run(watched, commits=django_capture_on_commit_callbacks)

    completed = PauseRecord.objects.get(action=PauseAction.UNPAUSE)  # the same record, not a second one
    assert completed.pk == record.pk and completed.status == PauseStatus.DONE
    assert completed.block_number == receipt["blockNumber"] and completed.by_user == member


def test_a_completed_unpause_is_not_doubled_by_the_scan(
    w3: Web3,
    demo: DemoDeployment,
    watched: WatchedDeployment,
    guardian: str,
    committee_account,
    django_capture_on_commit_callbacks,
) -> None:
    vault = demo.address("vault")
    send(w3, committee_account, bind(w3, "DemoVault", vault).functions.pause())
    member = UserFactory(committee=True)

    record = pausing.unpause(contract=vault, user=member)
    assert record.status == PauseStatus.DONE and record.block_number is not None
    run(watched, commits=django_capture_on_commit_callbacks)

    assert list(PauseRecord.objects.filter(action=PauseAction.UNPAUSE).values_list("pk", "by_user", "status")) == [
        (record.pk, member.pk, PauseStatus.DONE)
    ]
    assert PauseRecord.objects.get(action=PauseAction.PAUSE).by_address == committee_account.address
