"""State snapshots on anvil: take, verify, list, the confirmation depth, reorgs, altered files, the
periodic task, and impact reconstruction starting from a snapshot."""

import gzip
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from archive import services
from archive.document import decode_snapshot
from archive.exceptions import BlockNotConfirmed, SnapshotStorageFailed
from archive.models import StateSnapshot
from archive.selectors import account_proof, read_snapshot_file
from archive.tasks import take_periodic_snapshot
from chain.artifacts import bind
from chain.balances import read_balances
from chain.demo import exploit_vault, holder_account
from chain.transact import send
from recovery import impact
from recovery.models import AccountImpact, BalanceSnapshot


def _mine(w3, blocks: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


def test_a_snapshot_holds_every_tracked_balance_at_its_block_and_matches_balance_of(anvil, w3, tracked):
    snapshot = services.take_snapshot()
    assert snapshot.block == w3.eth.block_number
    assert snapshot.block_hash == "0x" + bytes(w3.eth.get_block(snapshot.block)["hash"]).hex()
    content = decode_snapshot(read_snapshot_file(snapshot))
    asset, vault = tracked.address("asset"), tracked.address("vault")
    assert set(content.assets) == {asset, vault}
    for token in (asset, vault):
        leaves = {account: amount for account, t, amount in content.leaves if t == token}
        on_chain = read_balances(w3, token, leaves, snapshot.block)
        assert {a.lower(): v for a, v in leaves.items()} == on_chain
        assert sum(leaves.values()) == bind(w3, "DemoAsset", token).functions.totalSupply().call(
            block_identifier=snapshot.block
        )
    # Positions: each vault holder's shares valued by the vault's own convertToAssets at the block.
    vault_contract = bind(w3, "DemoVault", vault)
    positions = content.positions[vault]["accounts"]
    assert positions and content.positions[vault]["underlying"] == asset
    for account, amount in list(positions.items())[:3]:
        shares = vault_contract.functions.balanceOf(account).call(block_identifier=snapshot.block)
        assert amount == vault_contract.functions.convertToAssets(shares).call(block_identifier=snapshot.block)
    assert snapshot.storage_name == snapshot.sha256 + ".json.gz"
    # A BalanceSnapshot per token, over the whole history, for later analyses to start from.
    rows = BalanceSnapshot.objects.filter(block=snapshot.block, block_hash=snapshot.block_hash)
    assert {row.token for row in rows} == {asset, vault} and {row.from_block for row in rows} == {0}


def test_taking_the_same_block_twice_gives_the_same_snapshot(tracked, snapshot_dir):
    first = services.take_snapshot()
    again = services.take_snapshot(block=first.block)
    assert again.pk == first.pk and StateSnapshot.objects.count() == 1
    assert [p.name for p in snapshot_dir.iterdir()] == [first.storage_name]


def test_a_later_snapshot_replays_only_from_the_previous_one_and_equals_a_full_replay(w3, tracked, demo, attacker):
    first = services.take_snapshot()
    exploit_vault(w3, demo, attacker=attacker, victims=demo.holders[:5])
    _mine(w3, 3)
    later = services.take_snapshot()
    from_previous = read_snapshot_file(later)
    StateSnapshot.objects.all().delete()
    BalanceSnapshot.objects.all().delete()
    full = services.take_snapshot(block=later.block)
    assert first.block < later.block
    assert read_snapshot_file(full) == from_previous and full.root == later.root


def test_the_snapshot_keeps_the_confirmation_depth_below_the_head(w3, tracked, settings):
    settings.CONFIRMATION_DEPTH = 4
    _mine(w3, 6)
    head = w3.eth.block_number
    assert services.take_snapshot().block == head - 4
    with pytest.raises(BlockNotConfirmed, match=f"at or below {head - 4}"):
        services.take_snapshot(block=head - 1)


def test_the_commands_take_list_and_verify(tracked):
    out = StringIO()
    call_command("snapshot", "take", stdout=out)
    snapshot = StateSnapshot.objects.get()
    for shown in (f"snapshot {snapshot.pk}", snapshot.root, snapshot.sha256, str(snapshot.size_bytes)):
        assert shown in out.getvalue()
    out = StringIO()
    call_command("snapshot", "list", stdout=out)
    assert snapshot.sha256 in out.getvalue() and str(snapshot.block) in out.getvalue()
    for reference in (str(snapshot.pk), snapshot.sha256):
        out = StringIO()
        call_command("snapshot", "verify", reference, stdout=out)
        assert f"snapshot {snapshot.pk} OK" in out.getvalue() and "matches the chain" in out.getvalue()
    snapshot.refresh_from_db()
    assert snapshot.verify_ok is True and snapshot.verified_at is not None


def test_an_altered_file_fails_verify_with_exit_code_1(tracked, snapshot_dir):
    snapshot = services.take_snapshot()
    path = snapshot_dir / snapshot.storage_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="FAILED verification") as caught:
        call_command("snapshot", "verify", str(snapshot.pk))
    assert caught.value.returncode == 1
    assert "altered" in str(caught.value)
    snapshot.refresh_from_db()
    assert snapshot.verify_ok is False and "altered" in snapshot.verify_error


def test_a_rewritten_file_with_a_changed_amount_fails_on_its_hash_and_its_root(tracked, snapshot_dir):
    snapshot = services.take_snapshot()
    path = snapshot_dir / snapshot.storage_name
    text = gzip.decompress(path.read_bytes()).decode()
    leaf = decode_snapshot(path.read_bytes()).leaves[0]
    text = text.replace(f'"{leaf[2]}"', f'"{leaf[2] + 1}"', 1)
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    result = services.verify_snapshot(snapshot=snapshot)
    assert not result.ok
    assert any("SHA-256" in p for p in result.problems) and any("Merkle root" in p for p in result.problems)


def test_a_missing_file_fails_verify(tracked, snapshot_dir):
    snapshot = services.take_snapshot()
    (snapshot_dir / snapshot.storage_name).unlink()
    with pytest.raises(CommandError, match="missing"):
        call_command("snapshot", "verify", str(snapshot.pk))


def test_a_snapshot_of_a_reorged_block_is_reported_not_trusted(w3, tracked):
    mark = w3.provider.make_request("evm_snapshot", [])["result"]
    _mine(w3)
    snapshot = services.take_snapshot()
    assert w3.provider.make_request("evm_revert", [mark])["result"]
    # The same height again, but another block (another timestamp, so another hash).
    w3.provider.make_request("evm_mine", [w3.eth.get_block("latest")["timestamp"] + 1000])
    assert w3.eth.block_number == snapshot.block
    result = services.verify_snapshot(snapshot=snapshot)
    assert not result.ok and result.chain_checked
    assert any("reorged" in p for p in result.problems)


def test_an_unknown_snapshot_is_a_clear_error(tracked):
    with pytest.raises(CommandError, match="no state snapshot 999"):
        call_command("snapshot", "verify", "999")


def test_a_full_storage_fails_cleanly_and_leaves_nothing_half_written(tracked, snapshot_dir, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "state_snapshots": {
            "BACKEND": "tests.archive.storages.FullDiskStorage",
            "OPTIONS": {"location": str(snapshot_dir)},
        },
    }
    with pytest.raises(SnapshotStorageFailed, match=r"No space left on device.*nothing was recorded"):
        services.take_snapshot()
    assert not StateSnapshot.objects.exists() and list(snapshot_dir.iterdir()) == []
    assert not BalanceSnapshot.objects.exists()


def test_a_read_only_storage_fails_cleanly_and_records_nothing(tracked, snapshot_dir, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "state_snapshots": {
            "BACKEND": "tests.archive.storages.ReadOnlyStorage",
            "OPTIONS": {"location": str(snapshot_dir)},
        },
    }
    with pytest.raises(SnapshotStorageFailed, match=r"Read-only file system.*nothing was recorded"):
        services.take_snapshot()
    assert not StateSnapshot.objects.exists() and not BalanceSnapshot.objects.exists()


def test_a_holders_proof_verifies_against_the_root(tracked):
    snapshot = services.take_snapshot()
    holder = tracked.holders[0]
    answer = account_proof(snapshot=snapshot, account=holder)
    assert answer["leaves"] and answer["root"] == snapshot.root
    from recovery.merkle import StandardMerkleTree

    for leaf in answer["leaves"]:
        value = [leaf["account"], leaf["asset"], int(leaf["amount"])]
        assert StandardMerkleTree.verify_proof(snapshot.root, ("address", "address", "uint256"), value, leaf["proof"])


def test_commit_puts_the_root_on_chain_and_the_registry_proves_a_holders_leaf(w3, tracked, chain_settings):
    from chain.snapshot_registry import committed_snapshot, registry_proves

    out = StringIO()
    call_command("snapshot", "take", "--commit", stdout=out)
    snapshot = StateSnapshot.objects.get()
    assert snapshot.commit_tx_hash and snapshot.committed_block and "committed to" in out.getvalue()
    registry = tracked.address("snapshot_registry")
    on_chain = committed_snapshot(w3, registry, snapshot.block)
    assert (on_chain.root, on_chain.block_hash, on_chain.content_hash, on_chain.leaves) == (
        snapshot.root,
        snapshot.block_hash,
        "0x" + snapshot.sha256,
        snapshot.leaf_count,
    )
    answer = account_proof(snapshot=snapshot, account=tracked.holders[0])
    for leaf in answer["leaves"]:
        kwargs = {"block": snapshot.block, "account": leaf["account"], "asset": leaf["asset"]}
        assert registry_proves(w3, registry, proof=leaf["proof"], amount=int(leaf["amount"]), **kwargs)
        assert not registry_proves(w3, registry, proof=leaf["proof"], amount=int(leaf["amount"]) + 1, **kwargs)
    # Committing again sends nothing; the record keeps the first transaction.
    assert services.commit_snapshot(snapshot=snapshot).commit_tx_hash == snapshot.commit_tx_hash


def test_the_periodic_task_takes_one_snapshot_per_interval_and_none_twice(w3, tracked, settings):
    settings.STATE_SNAPSHOT_EVERY_BLOCKS = 10
    _mine(w3, 10 - w3.eth.block_number % 10)  # the head on a multiple of 10
    head = w3.eth.block_number
    first = take_periodic_snapshot.apply().get()
    assert first["block"] == head
    assert take_periodic_snapshot.apply().get() is None  # same interval: nothing
    _mine(w3, 9)
    assert take_periodic_snapshot.apply().get() is None  # not yet 10 blocks further
    _mine(w3, 1)
    second = take_periodic_snapshot.apply().get()
    assert second["block"] == head + 10
    _mine(w3, 25)
    assert take_periodic_snapshot.apply().get()["block"] == head + 30
    assert list(StateSnapshot.objects.order_by("block").values_list("block", flat=True)) == [head, head + 10, head + 30]
    assert set(StateSnapshot.objects.values_list("created_by", flat=True)) == {None}


def test_the_periodic_task_does_nothing_without_a_deployment(chain_settings, snapshot_dir, db):
    assert take_periodic_snapshot.apply().get() is None


def test_impact_reconstruction_from_a_snapshot_equals_a_full_replay_for_every_account(
    anvil, w3, tracked, demo, attacker
):
    """Snapshot, more activity, the exploit; then the same analysis with the snapshot and without it."""
    snapshot = services.take_snapshot()
    # Activity after the snapshot: vault shares and the asset change hands, a new account appears.
    vault = bind(w3, "DemoVault", demo.address("vault"))
    newcomer = "0x" + "5e" * 20
    shares = vault.functions.balanceOf(demo.holders[3]).call()
    send(w3, holder_account(3), vault.functions.transfer(w3.to_checksum_address(newcomer), shares // 3))
    send(w3, holder_account(7), vault.functions.transfer(demo.holders[11], 1))
    _mine(w3, 5)
    rollback_block = w3.eth.block_number
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    drainer, tx = exploit_vault(w3, demo, attacker=attacker, victims=victims)
    _mine(w3, 2)
    reference_block = w3.eth.block_number

    def analyse():
        incident = impact.open_incident(
            title="Demo vault drained",
            kind="protocol_exploit",
            chain_id=31337,
            affected_contracts=[demo.address("vault")],
            affected_tokens=[demo.address("vault"), demo.address("asset")],
            exploit_transactions=[tx],
            exploiter_addresses=[attacker.address, drainer.address],
        )
        return impact.request_impact(
            incident_id=incident.pk,
            rpc_url=anvil.url,
            rollback_block=rollback_block,
            reference_block=reference_block,
            from_block=demo.contracts["token"].block,
        )

    with_snapshot = analyse()
    from chain.logs import RawRpc

    rpc = RawRpc(anvil.url)
    try:
        starts = {r.token: r.first_block for r in impact._load_replays(rpc, with_snapshot).values()}
    finally:
        rpc.close()
    assert set(starts.values()) == {snapshot.block + 1}  # only the logs after the snapshot are replayed
    impact.compute_impact(analysis_id=with_snapshot.pk, rpc_url=anvil.url)

    BalanceSnapshot.objects.all().delete()
    full = analyse()
    impact.compute_impact(analysis_id=full.pk, rpc_url=anvil.url)

    def rows(analysis):
        fields = ("account", "asset", "kind", "before", "after", "delta")
        return sorted(AccountImpact.objects.filter(analysis=analysis).values_list(*fields))

    assert rows(with_snapshot) == rows(full) and len(rows(full)) > len(demo.holders)


def test_two_workers_running_the_periodic_task_at_once_take_one_snapshot(celery_worker, w3, tracked, settings):
    if connection.vendor == "sqlite":
        pytest.skip("two writers at once need PostgreSQL: the tests' in-memory SQLite fails the second at once")
    settings.STATE_SNAPSHOT_EVERY_BLOCKS = 5
    _mine(w3, 5)
    results = [take_periodic_snapshot.delay(), take_periodic_snapshot.delay()]
    answers = [result.get(timeout=60) for result in results]
    blocks = {answer["block"] for answer in answers if answer}
    assert len(blocks) == 1 and StateSnapshot.objects.count() == 1
    assert StateSnapshot.objects.get().block == blocks.pop()


def test_a_block_the_registry_already_holds_is_refused_with_the_registrys_reason(w3, tracked, chain_settings):
    from archive.exceptions import RegistryUnavailable
    from chain.snapshot_registry import commit_snapshot_root
    from config.preflight import load_role_account

    snapshot = services.take_snapshot()
    # Someone committed another root for the same block first.
    commit_snapshot_root(
        w3,
        tracked.address("snapshot_registry"),
        load_role_account("guardian"),
        block=snapshot.block,
        block_hash=snapshot.block_hash,
        root="0x" + "77" * 32,
        content_hash="0x" + "00" * 32,
        leaves=1,
    )
    with pytest.raises(RegistryUnavailable, match="AlreadyCommitted"):
        services.commit_snapshot(snapshot=snapshot)
    snapshot.refresh_from_db()
    assert snapshot.commit_tx_hash == "" and snapshot.committed_block is None
