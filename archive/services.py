"""State changes of the archive app: take, verify and commit state snapshots.

A snapshot is every tracked account's balance of each tracked token at a confirmed block,
replayed from Transfer logs (``chain/balances.py``), starting from the latest stored
``recovery.models.BalanceSnapshot`` the chain still has, so each periodic snapshot scans only
the logs since the previous one. It writes, in this order: the content-addressed file (its
name is its SHA-256, so a rerun or a second worker writes the same bytes under the same name),
then in one transaction a ``BalanceSnapshot`` per token (the starting point impact analyses
replay from) and the ``StateSnapshot`` row. A failure before the transaction leaves at most a
complete, unreferenced file of the right name; a storage failure deletes what it wrote.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from archive.document import (
    EncodedSnapshot,
    SnapshotFileError,
    build_content,
    decode_snapshot,
    encode_snapshot,
    sha256_hex,
    snapshot_root,
)
from archive.exceptions import (
    BlockNotConfirmed,
    NothingTracked,
    RegistryUnavailable,
    SnapshotStorageFailed,
)
from archive.models import PeriodicSnapshotRun, StateSnapshot
from archive.selectors import snapshot_storage
from chain.balances import balances_at
from chain.blocks import BlockMissing, block_hashes, head_block, node_chain_id
from chain.errors import ChainError, NotAnErc20, Reverted
from chain.logs import RawRpc
from chain.positions import VaultShares
from chain.redaction import redact
from chain.replay import pack_balances, unpack_balances
from recovery.exceptions import ChainMismatch, ChainUnavailable, InvalidInput
from recovery.models import BalanceSnapshot
from recovery.selectors import get_current_deployment

log = logging.getLogger(__name__)
FILE_SUFFIX = ".json.gz"
# A BalanceSnapshot written here is a replay that covers the token's whole history: no Transfer
# precedes the contract's creation, so a scan from its creation block equals one from block 0,
# and recording 0 lets every analysis (whatever its from_block) start from it.
FULL_HISTORY = 0


@dataclass(frozen=True, slots=True)
class TrackedToken:
    address: str  # EIP-55
    first_block: int  # where its Transfer logs can begin (the contract's creation block)
    vault: bool  # ERC-4626 shares: positions are read with convertToAssets


@dataclass(frozen=True, slots=True)
class Tracked:
    tokens: tuple[TrackedToken, ...]
    registry: str  # the deployment's SnapshotRegistry, or ""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    snapshot: StateSnapshot
    ok: bool
    problems: tuple[str, ...]
    chain_checked: bool  # False when the node could not be asked about the block's hash


def tracked_for(*, rpc_url: str) -> Tracked:
    """The current deployment's tracked tokens (``STATE_SNAPSHOT_TOKEN_ROLES``) and its registry."""
    deployment = get_current_deployment(rpc_url=rpc_url)
    if deployment is None:
        raise NothingTracked(
            "no deployment is recorded for the configured node: deploy one (`manage.py devchain`) or record it first"
        )
    by_role = {contract.role: contract for contract in deployment.contracts.all()}
    roles = list(settings.STATE_SNAPSHOT_TOKEN_ROLES)
    tokens = tuple(
        TrackedToken(
            address=to_checksum_address(by_role[role].address), first_block=by_role[role].block, vault=role == "vault"
        )
        for role in roles
        if role in by_role
    )
    if not tokens:
        raise NothingTracked(
            f"deployment {deployment.pk} has no contract with a tracked role ({', '.join(roles)}): "
            "set STATE_SNAPSHOT_TOKEN_ROLES to the roles of its tokens"
        )
    registry = by_role.get("snapshot_registry")
    return Tracked(tokens=tokens, registry=to_checksum_address(registry.address) if registry else "")


def take_snapshot(
    *,
    block: int | None = None,
    created_by: AbstractBaseUser | None = None,
    rpc_url: str | None = None,
    tokens: Sequence[TrackedToken] | None = None,
) -> StateSnapshot:
    """Archive every tracked balance at ``block`` (default: the head less ``CONFIRMATION_DEPTH``).

    ``BlockNotConfirmed`` for a block closer to the head than the confirmation depth. Taking a
    block already archived (same number and hash) returns the existing row and writes nothing.
    ``tokens`` overrides the deployment's tracked tokens (benchmarks, other protocols).
    """
    url = rpc_url or settings.CHAIN_RPC_URL
    tracked = tuple(tokens) if tokens is not None else tracked_for(rpc_url=url).tokens
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
        raise InvalidInput(f"block must be a non-negative block number, got {block!r}", field="block")
    rpc = RawRpc(url, timeout=settings.CHAIN_RPC_TIMEOUT)
    try:
        chain_id, block, block_hash = _confirmed_block(rpc, block)
        existing = StateSnapshot.objects.filter(chain_id=chain_id, block=block, block_hash=block_hash).first()
        if existing is not None:
            return existing
        balances = {token.address: _balances(rpc, chain_id, token, block) for token in tracked}
        positions = {}
        reader = VaultShares()
        for token in tracked:
            if token.vault:
                underlying = reader.underlying(rpc, token.address, block)
                positions[token.address] = (
                    underlying,
                    reader.positions(rpc, token.address, balances[token.address], block),
                )
        # Again after the scan: the logs must be those of the recorded block (no reorg meanwhile).
        if block_hashes(rpc, [block])[block] != block_hash:
            raise ChainMismatch(f"block {block} was reorged while it was being archived: take the snapshot again")
    except BlockMissing as error:
        raise InvalidInput(
            f"the node has no block {error.block}: give a block at or below the head", field="block"
        ) from None
    except NotAnErc20 as error:
        raise NothingTracked(
            f"a tracked token does not answer as an ERC-20 (or a vault) at block {block}: {error}; "
            "check STATE_SNAPSHOT_TOKEN_ROLES and the deployment's contracts"
        ) from None
    except ChainError as error:
        raise ChainUnavailable(redact(f"the node at {url} failed: {error}", secrets=[url])) from None
    finally:
        rpc.close()

    encoded = encode_snapshot(
        build_content(chain_id=chain_id, block=block, block_hash=block_hash, balances=balances, positions=positions)
    )
    storage_name = _store_file(encoded)
    with transaction.atomic():
        for token in tracked:
            _refresh_balance_snapshot(chain_id, token.address, block, block_hash, balances[token.address])
        snapshot, _ = StateSnapshot.objects.get_or_create(
            chain_id=chain_id,
            block=block,
            block_hash=block_hash,
            defaults={
                "assets": list(encoded.content.assets),
                "leaf_count": len(encoded.content.leaves),
                "account_count": encoded.content.account_count,
                "root": encoded.root,
                "sha256": encoded.sha256,
                "size_bytes": encoded.size_bytes,
                "storage_name": storage_name,
                "created_by": created_by,
            },
        )
    return snapshot


def take_periodic_snapshot(*, rpc_url: str | None = None, every: int | None = None) -> StateSnapshot | None:
    """Take the snapshot of the latest multiple of ``every`` blocks at or below the confirmed head,
    unless that block is archived already; ``None`` when there is nothing to take.

    Aligning to multiples makes two workers (or a rerun) pick the same block, so they take one
    snapshot: the same file name and the unique (chain, block, hash) row.
    """
    url = rpc_url or settings.CHAIN_RPC_URL
    interval = every or settings.STATE_SNAPSHOT_EVERY_BLOCKS
    tracked = tracked_for(rpc_url=url)
    rpc = RawRpc(url, timeout=settings.CHAIN_RPC_TIMEOUT)
    try:
        chain_id = node_chain_id(rpc)
        confirmed = head_block(rpc) - settings.CONFIRMATION_DEPTH
    except ChainError as error:
        raise ChainUnavailable(redact(f"the node at {url} failed: {error}", secrets=[url])) from None
    finally:
        rpc.close()
    target = confirmed // interval * interval
    first = min(token.first_block for token in tracked.tokens)
    if target < first:
        return None
    last = StateSnapshot.objects.filter(chain_id=chain_id).order_by("-block").first()
    if last is not None and target <= last.block:
        return None
    return take_snapshot(block=target, rpc_url=url, tokens=tracked.tokens)


def record_periodic_run(*, error: str = "") -> PeriodicSnapshotRun:
    """Record how a periodic run ended: ``error`` empty for a success, else why it failed.

    The text is redacted here (the configured node's URL and every ``LIFEBOAT_SECRETS`` entry,
    every URL cut to scheme, host and port), whatever raised it, since the archive page shows it.
    """
    now = timezone.now()
    values: dict[str, object] = {"ran_at": now, "ok": not error, "error": ""}
    if error:
        secrets = [settings.CHAIN_RPC_URL, *settings.LIFEBOAT_SECRETS]
        values["error"] = redact(error, secrets=[s for s in secrets if s])[:2000]
    else:
        values["succeeded_at"] = now
    run, _ = PeriodicSnapshotRun.objects.update_or_create(pk=1, defaults=values)
    return run


def verify_snapshot(*, snapshot: StateSnapshot, rpc_url: str | None = None) -> VerifyResult:
    """Reload the file, recompute its SHA-256 and root, compare them (and its header) with the record,
    and compare the recorded block hash with the chain's when the node answers. Records the outcome."""
    problems: list[str] = []
    storage = snapshot_storage()
    try:
        with storage.open(snapshot.storage_name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        data = None
        problems.append(f"the file {snapshot.storage_name} is missing from the snapshot storage")
    except OSError as error:
        data = None
        problems.append(f"the file {snapshot.storage_name} could not be read: {error}")
    if data is not None:
        problems.extend(_file_problems(snapshot, data))
    chain_checked = False
    url = rpc_url or settings.CHAIN_RPC_URL
    try:
        rpc = RawRpc(url, timeout=settings.CHAIN_RPC_TIMEOUT)
        try:
            if node_chain_id(rpc) == snapshot.chain_id:
                current = block_hashes(rpc, [snapshot.block])[snapshot.block]
                chain_checked = True
                if current != snapshot.block_hash:
                    problems.append(
                        f"the chain's block {snapshot.block} is now {current}, not {snapshot.block_hash}: "
                        "the snapshot's block was reorged out (or the chain restarted); do not trust it"
                    )
        finally:
            rpc.close()
    except BlockMissing:
        chain_checked = True
        problems.append(
            f"the node has no block {snapshot.block}: the snapshot's block was reorged out or the chain restarted"
        )
    except ChainError as error:
        log.warning(
            "snapshot %s: block hash not checked, the node failed: %s", snapshot.pk, redact(str(error), secrets=[url])
        )
    snapshot.verified_at = timezone.now()
    snapshot.verify_ok = not problems
    snapshot.verify_error = "; ".join(problems)
    snapshot.save(update_fields=["verified_at", "verify_ok", "verify_error"])
    return VerifyResult(snapshot=snapshot, ok=not problems, problems=tuple(problems), chain_checked=chain_checked)


def commit_snapshot(*, snapshot: StateSnapshot, rpc_url: str | None = None) -> StateSnapshot:
    """Commit the root to the deployment's SnapshotRegistry with the guardian key; record the tx and block.

    A snapshot already committed is returned as it is. ``RegistryUnavailable`` when the deployment
    has no registry or the registry refuses (another root already committed for the block, say).
    """
    if snapshot.commit_tx_hash:
        return snapshot
    from chain.rpc import connect
    from chain.snapshot_registry import commit_snapshot_root
    from config.preflight import load_role_account

    url = rpc_url or settings.CHAIN_RPC_URL
    registry = tracked_for(rpc_url=url).registry
    if not registry:
        raise RegistryUnavailable(
            "the deployment has no snapshot_registry contract: deploy one to commit roots on chain"
        )
    if not snapshot.leaf_count:
        raise RegistryUnavailable("an empty snapshot has no root to commit (the registry refuses a zero root)")
    account = load_role_account("guardian")
    try:
        commitment = commit_snapshot_root(
            connect(url, timeout=settings.CHAIN_RPC_TIMEOUT),
            registry,
            account,
            block=snapshot.block,
            block_hash=snapshot.block_hash,
            root=snapshot.root,
            content_hash="0x" + snapshot.sha256,
            leaves=snapshot.leaf_count,
        )
    except Reverted as error:
        raise RegistryUnavailable(f"the SnapshotRegistry at {registry} refused the commit: {error}") from None
    except ChainError as error:
        raise ChainUnavailable(redact(f"the node at {url} failed: {error}", secrets=[url])) from None
    snapshot.registry = registry
    snapshot.commit_tx_hash = commitment.tx_hash
    snapshot.committed_block = commitment.block
    snapshot.save(update_fields=["registry", "commit_tx_hash", "committed_block"])
    return snapshot


# --- private helpers ---------------------------------------------------------------------------


def _confirmed_block(rpc: RawRpc, block: int | None) -> tuple[int, int, str]:
    chain_id = node_chain_id(rpc)
    head = head_block(rpc)
    depth = settings.CONFIRMATION_DEPTH
    confirmed = head - depth
    if block is None:
        if confirmed < 0:
            raise BlockNotConfirmed(f"the chain's head {head} is not yet {depth} blocks deep: wait for more blocks")
        block = confirmed
    elif block > confirmed:
        raise BlockNotConfirmed(
            f"block {block} is {max(head - block, 0)} blocks below the head {head}, fewer than the confirmation "
            f"depth {depth} (CONFIRMATION_DEPTH): give a block at or below {confirmed}",
            block=block,
            head=head,
            confirmation_depth=depth,
        )
    return chain_id, block, block_hashes(rpc, [block])[block]


def _balances(rpc: RawRpc, chain_id: int, token: TrackedToken, block: int) -> dict[str, int]:
    """Every account's balance of ``token`` after ``block``: from the latest stored full-history
    balance snapshot at or below it that the chain still has, plus the logs after it."""
    start = _starting_snapshot(rpc, chain_id, token.address, block)
    if start is None:
        return balances_at(rpc, token.address, block, from_block=token.first_block)
    balances = unpack_balances(bytes(start.balances))
    if start.block == block:
        return balances
    return balances_at(rpc, token.address, block, from_block=start.block + 1, start=balances)


def _starting_snapshot(rpc: RawRpc, chain_id: int, token: str, block: int) -> BalanceSnapshot | None:
    candidates = BalanceSnapshot.objects.filter(
        chain_id=chain_id, token=token, block__lte=block, from_block=FULL_HISTORY
    ).exclude(block_hash="")
    for candidate in candidates.order_by("-block", "-pk")[:5]:
        try:
            current = block_hashes(rpc, [candidate.block])[candidate.block]
        except BlockMissing:
            current = ""
        if current == candidate.block_hash:
            return candidate
    return None


def _refresh_balance_snapshot(
    chain_id: int, token: str, block: int, block_hash: str, balances: Mapping[str, int]
) -> None:
    row, created = BalanceSnapshot.objects.get_or_create(
        chain_id=chain_id,
        token=token,
        block=block,
        block_hash=block_hash,
        defaults={"from_block": FULL_HISTORY, "account_count": len(balances), "balances": pack_balances(balances)},
    )
    if not created and row.from_block != FULL_HISTORY:
        # An analysis's snapshot of the same block, built from a later from_block: ours covers more.
        row.from_block, row.account_count, row.balances = FULL_HISTORY, len(balances), pack_balances(balances)
        row.save(update_fields=["from_block", "account_count", "balances"])


def _store_file(encoded: EncodedSnapshot) -> str:
    """Save the bytes under their SHA-256; a file already there with that name is kept (same content)."""
    storage = snapshot_storage()
    name = encoded.sha256 + FILE_SUFFIX
    try:
        if storage.exists(name):
            return name
        saved = storage.save(name, ContentFile(encoded.data))
    except OSError as error:
        _delete_quietly(storage, name)
        raise SnapshotStorageFailed(
            f"the snapshot storage refused {name} ({type(error).__name__}: {error}): free space or fix its "
            "permissions, then take the snapshot again; nothing was recorded"
        ) from None
    if saved != name:
        # Another worker saved the same name first and the storage picked a new one for ours:
        # the content is the same (the name is its hash), so keep theirs and drop the copy.
        _delete_quietly(storage, saved)
    return name


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError as error:
        log.warning("could not delete the partial snapshot file %s: %s", name, error)


def _file_problems(snapshot: StateSnapshot, data: bytes) -> list[str]:
    problems = []
    digest = sha256_hex(data)
    if digest != snapshot.sha256:
        problems.append(f"the file's SHA-256 is {digest}, not {snapshot.sha256} as recorded: the file was altered")
    try:
        content = decode_snapshot(data)
    except SnapshotFileError as error:
        return [*problems, f"the file does not parse: {error}"]
    root = snapshot_root(content.leaves)
    if root != snapshot.root:
        problems.append(f"the leaves' Merkle root is {root}, not {snapshot.root} as recorded")
    header = (content.chain_id, content.block, content.block_hash)
    if header != (snapshot.chain_id, snapshot.block, snapshot.block_hash):
        problems.append(
            f"the file is of chain {content.chain_id} block {content.block} ({content.block_hash}), "
            "not the recorded one"
        )
    if len(content.leaves) != snapshot.leaf_count:
        problems.append(f"the file has {len(content.leaves)} leaves, not {snapshot.leaf_count} as recorded")
    return problems
