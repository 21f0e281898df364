"""The circuit breaker on the session's anvil: the guardian's pause lands once, a second firing sends
nothing, a pause the contract refuses fails and escalates, a crash after signing is followed (not
re-sent), and unpauses are recorded with who did them."""

import json

import pytest
from django.db import connection
from web3 import Web3

from chain import devkeys
from chain.artifacts import bind, factory
from chain.guardian import is_paused
from chain.keys import load_account
from chain.transact import send
from monitoring import pausing
from monitoring.exceptions import ContractNotPaused
from monitoring.models import ActionKind, ActionStatus, PauseAction, PauseRecord, ResponseAction
from recovery.exceptions import InvalidInput, RoleRequired
from tests.factories import UserFactory
from tests.monitoring.responders import make_firing

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


@pytest.fixture
def guardian(settings: object) -> str:
    """The guardian key is the dev committee's account, which holds the demo's guardian roles."""
    keys = settings.LIFEBOAT_KEYS  # type: ignore[attr-defined]
    settings.LIFEBOAT_KEYS = {
        **keys,
        "guardian": {**keys["guardian"], "private_key": devkeys.COMMITTEE_KEY, "keystore": ""},
    }  # type: ignore[attr-defined]
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10  # type: ignore[attr-defined]
    settings.MONITOR_PAUSE_MAX_ATTEMPTS = 2  # type: ignore[attr-defined]
    settings.MONITOR_WEBHOOKS = []  # type: ignore[attr-defined]
    settings.MONITOR_EMAIL_TO = ["oncall@example.org"]  # type: ignore[attr-defined]
    return load_account(private_key=devkeys.COMMITTEE_KEY).address


def _nonce(w3: Web3, address: str) -> int:
    return int(w3.eth.get_transaction_count(address, "pending"))


def test_a_firing_pauses_the_vault_and_the_executor_and_records_both(w3, anvil, demo, guardian):
    vault, executor = demo.address("vault"), demo.address("recovery_executor")
    firing = make_firing(rpc_url=anvil.url, targets=[vault, executor])

    actions = pausing.pause_targets(firing)

    assert [a.status for a in actions] == [ActionStatus.DONE, ActionStatus.DONE]
    assert is_paused(w3, vault) and is_paused(w3, executor)
    for action in actions:
        receipt = w3.eth.get_transaction_receipt(action.tx_hash)
        assert receipt["status"] == 1 and receipt["blockNumber"] == action.block_number
        assert receipt["from"] == guardian
    records = PauseRecord.objects.filter(firing=firing, action=PauseAction.PAUSE).order_by("pk")
    assert [(r.contract, r.by_address, r.tx_hash, r.block_number) for r in records] == [
        (a.target, guardian, a.tx_hash, a.block_number) for a in actions
    ]


def test_a_second_firing_and_a_second_call_send_nothing(w3, anvil, demo, guardian):
    vault = demo.address("vault")
    first = make_firing(rpc_url=anvil.url, targets=[vault])
    (done,) = pausing.pause_targets(first)
    assert done.status == ActionStatus.DONE
    nonce = _nonce(w3, guardian)

    (again,) = pausing.pause_targets(first)  # the same firing: its action is final
    second = make_firing(rpc_url=anvil.url, targets=[vault], cause="oracle_stale:feed")
    (skipped,) = pausing.pause_targets(second)

    assert again.pk == done.pk and again.status == ActionStatus.DONE
    assert skipped.status == ActionStatus.SKIPPED and "already paused" in skipped.detail["note"]
    assert skipped.tx_hash == ""
    assert _nonce(w3, guardian) == nonce, "nothing may be sent for a contract already paused"
    assert PauseRecord.objects.filter(contract=vault, action=PauseAction.PAUSE).count() == 1


def _vault_with_another_guardian(w3: Web3, demo, deployer) -> str:
    """A DemoVault whose guardian is the deployer: the guardian key cannot pause it."""
    constructor = factory(w3, "DemoVault").constructor(
        demo.address("asset"), demo.address("timelock"), deployer.address
    )
    return send(w3, deployer, constructor)["contractAddress"]


def test_a_pause_the_contract_refuses_fails_without_sending_then_escalates(
    w3, anvil, demo, deployer, guardian, mailoutbox
):
    other = _vault_with_another_guardian(w3, demo, deployer)
    firing = make_firing(rpc_url=anvil.url, targets=[other])
    nonce = _nonce(w3, guardian)

    (failed,) = pausing.pause_targets(firing)

    assert failed.status == ActionStatus.FAILED and failed.attempts == 1
    assert "NotGuardian" in failed.last_error and failed.detail["revert"] == "NotGuardian"
    assert _nonce(w3, guardian) == nonce, "a refused pause is found by estimating it: no gas spent"
    assert pausing.escalate_if_exhausted(action_id=failed.pk).status == ActionStatus.FAILED  # 1 of 2 attempts

    retried = pausing.pause_target(action_id=failed.pk)
    escalated = pausing.escalate_if_exhausted(action_id=retried.pk)

    assert retried.attempts == 2 and escalated.status == ActionStatus.ESCALATED
    assert not is_paused(w3, other)
    (email,) = ResponseAction.objects.filter(firing=firing, kind=ActionKind.EMAIL)
    assert email.target == "oncall@example.org (escalation)"
    payload = email.detail["payload"]
    assert payload["event"] == "monitor.escalation" and payload["escalated"] is True
    assert payload["pauses"][0]["status"] == ActionStatus.ESCALATED and "NotGuardian" in payload["pauses"][0]["error"]
    assert "ESCALATION" in payload["summary"] and other in payload["summary"]
    from monitoring import responses

    assert responses.send_email(action_id=email.pk).status == ActionStatus.DONE
    assert responses.send_email(action_id=email.pk) is None  # sent: nothing more
    (message,) = mailoutbox
    assert message.subject.startswith("[Lifeboat ESCALATION]") and "ESCALATED" in message.body
    # Escalating again changes nothing and sends nothing more.
    assert pausing.escalate_if_exhausted(action_id=failed.pk).status == ActionStatus.ESCALATED
    assert ResponseAction.objects.filter(firing=firing, kind=ActionKind.EMAIL).count() == 1


def test_a_target_without_paused_fails_with_a_clear_reason(anvil, demo, guardian):
    firing = make_firing(rpc_url=anvil.url, targets=[demo.address("asset")])
    (failed,) = pausing.pause_targets(firing)
    assert failed.status == ActionStatus.FAILED
    assert "is not a pausable contract" in failed.last_error


def test_a_role_target_resolves_through_the_watched_contracts_and_a_bad_one_is_refused(w3, anvil, demo, guardian):
    firing = make_firing(rpc_url=anvil.url, targets=["vault"], contracts={"vault": demo.address("vault")})
    (done,) = pausing.pause_targets(firing)
    assert done.target == demo.address("vault") and done.status == ActionStatus.DONE
    with pytest.raises(InvalidInput, match="neither an address nor a contract role"):
        pausing.resolve_targets(["treasury"], {"vault": demo.address("vault")})


def test_a_dead_node_fails_the_pause_with_no_secret_in_the_stored_error(demo, guardian, caplog):
    from chain.anvil import free_port

    url = f"http://user:hunter2pw@127.0.0.1:{free_port()}/v3/sekretkey123"
    firing = make_firing(rpc_url=url, targets=[demo.address("vault")])
    caplog.set_level("DEBUG")

    (failed,) = pausing.pause_targets(firing)

    assert failed.status == ActionStatus.FAILED and "127.0.0.1" in failed.last_error
    stored = json.dumps([failed.last_error, failed.detail]) + caplog.text
    for secret in ("hunter2pw", "sekretkey123", url):
        assert secret not in stored


def test_a_pause_whose_receipt_did_not_come_is_followed_not_sent_again(w3, anvil, demo, guardian, settings):
    """A crash (or a timeout) after the broadcast leaves the action SENT with its hash: the retry
    finds that transaction mined instead of signing a second one."""
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 0
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        (sent,) = pausing.pause_targets(firing)
        assert sent.status == ActionStatus.SENT and sent.tx_hash
        assert sent.detail["raw_tx"].startswith("0x") and sent.detail["tx_hashes"] == [sent.tx_hash]
        nonce_after_send = _nonce(w3, guardian)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("evm_mine", [])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10

    done = pausing.pause_target(action_id=sent.pk)

    assert done.status == ActionStatus.DONE and done.tx_hash == sent.tx_hash
    assert _nonce(w3, guardian) == nonce_after_send
    assert is_paused(w3, vault)


def test_a_pause_dropped_by_the_node_is_broadcast_again_as_the_same_bytes(w3, anvil, demo, guardian, settings):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 0
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        (sent,) = pausing.pause_targets(firing)
        w3.provider.make_request("anvil_dropTransaction", [sent.tx_hash])
        assert w3.eth.get_transaction_count(guardian, "pending") == w3.eth.get_transaction_count(guardian)
        settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 0
        followed = pausing.pause_target(action_id=sent.pk)  # rebroadcast, still unmined
        assert followed.status == ActionStatus.SENT and followed.tx_hash == sent.tx_hash
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("evm_mine", [])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10
    done = pausing.pause_target(action_id=sent.pk)
    assert done.status == ActionStatus.DONE and done.tx_hash == sent.tx_hash and is_paused(w3, vault)


def test_a_committee_member_unpauses_and_the_unpause_is_recorded_with_them(w3, anvil, demo, guardian):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault], contracts={"vault": vault})
    pausing.pause_targets(firing)
    member = UserFactory(committee=True)

    record = pausing.unpause(contract=vault.lower(), user=member, note="fixed the oracle")

    assert not is_paused(w3, vault)
    assert (record.action, record.contract, record.by_user, record.by_address) == (
        PauseAction.UNPAUSE,
        vault,
        member,
        guardian,
    )
    assert (
        record.note == "fixed the oracle"
        and record.block_number == w3.eth.get_transaction_receipt(record.tx_hash)["blockNumber"]
    )
    with pytest.raises(ContractNotPaused):
        pausing.unpause(contract=vault, user=member)


def test_unpausing_needs_the_committee_role_and_an_address(anvil, demo, guardian, chain_settings):
    vault = demo.address("vault")
    with pytest.raises(RoleRequired, match="committee"):
        pausing.unpause(contract=vault, user=UserFactory(executor=True))
    with pytest.raises(InvalidInput, match="not an address"):
        pausing.unpause(contract="0x1234", user=UserFactory(committee=True))


def test_pauses_and_unpauses_seen_on_chain_are_recorded_once(w3, anvil, demo, guardian, committee_account):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault], contracts={"vault": vault})
    start = w3.eth.block_number + 1
    (done,) = pausing.pause_targets(firing)
    # Unpaused outside Lifeboat, straight from the guardian's wallet.
    receipt = send(w3, committee_account, bind(w3, "DemoVault", vault).functions.unpause())
    watched_id = firing.rule.watched_id

    first = pausing.record_pause_events(watched_id=watched_id, from_block=start, to_block=w3.eth.block_number)
    second = pausing.record_pause_events(watched_id=watched_id, from_block=start, to_block=w3.eth.block_number)

    assert [r.pk for r in first] == [r.pk for r in second]
    assert PauseRecord.objects.count() == 2
    paused, unpaused = first
    assert paused.tx_hash == done.tx_hash and paused.firing == firing  # Lifeboat's own pause, not doubled
    assert unpaused.action == PauseAction.UNPAUSE and unpaused.by_address == committee_account.address
    assert unpaused.tx_hash == receipt["transactionHash"].to_0x_hex() and unpaused.by_user is None
    single = pausing.record_unpause_seen_on_chain(
        chain_id=31337,
        contract=vault,
        tx_hash=unpaused.tx_hash.upper().replace("0X", "0x"),
        block_number=unpaused.block_number,
        by_address=committee_account.address,
    )
    assert single.pk == unpaused.pk
    assert connection.vendor in ("sqlite", "postgresql")


def test_a_sent_pause_stays_sent_while_the_node_is_down_and_lands_afterwards(w3, anvil, demo, guardian, settings):
    from chain.anvil import free_port

    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 0
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        (sent,) = pausing.pause_targets(firing)
        watched = firing.rule.watched
        watched.rpc_url = f"http://127.0.0.1:{free_port()}"
        watched.save(update_fields=["rpc_url"])

        during = pausing.pause_target(action_id=sent.pk)

        assert during.status == ActionStatus.SENT and during.tx_hash == sent.tx_hash
        assert "127.0.0.1" in during.last_error
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    watched.rpc_url = anvil.url
    watched.save(update_fields=["rpc_url"])
    w3.provider.make_request("evm_mine", [])
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10

    done = pausing.pause_target(action_id=sent.pk)

    assert done.status == ActionStatus.DONE and done.tx_hash == sent.tx_hash and is_paused(w3, vault)
