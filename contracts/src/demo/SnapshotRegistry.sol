// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title SnapshotRegistry
/// @notice On-chain record of Lifeboat's periodic state snapshots: for a block, the Merkle root of
///         every tracked (account, asset, amount) position, the block's hash and the archived
///         file's content hash. After a disaster any holder can prove their position at that block
///         with their proof and the archived file, without the protocol's interface.
/// @dev The leaf is OpenZeppelin StandardMerkleTree's for the types (address, address, uint256):
///      `keccak256(bytes.concat(keccak256(abi.encode(account, asset, amount))))`, the double hash
///      keeping a leaf from ever being read as an inner node. Lifeboat's `recovery/merkle.py` builds
///      the same tree.
///
///      A block is committed once and never changed: a root that could be replaced would prove
///      nothing. A correction is a snapshot of another block.
contract SnapshotRegistry is AccessControl {
    /// @notice Accounts allowed to commit snapshots (the committee on the dev chain).
    bytes32 public constant COMMITTER_ROLE = keccak256("COMMITTER_ROLE");

    struct Snapshot {
        bytes32 root;
        bytes32 blockHash;
        bytes32 contentHash;
        uint256 leaves;
    }

    mapping(uint256 blockNumber => Snapshot) private _snapshots;

    /// @notice Emitted once per block number, when its snapshot is committed.
    event SnapshotCommitted(
        uint256 indexed blockNumber,
        bytes32 indexed root,
        bytes32 blockHash,
        bytes32 contentHash,
        uint256 leaves
    );

    /// @notice A snapshot of `blockNumber` is already committed; commit another block instead.
    error AlreadyCommitted(uint256 blockNumber);

    /// @notice A zero root proves nothing (and reads the same as "not committed").
    error EmptyRoot();

    /// @notice `blockNumber` is after this chain's head.
    error FutureBlock(uint256 blockNumber);

    /// @notice `blockHash` is not this chain's hash of `blockNumber` (a snapshot of a reorged-out
    ///         block, or of another chain). Checked only for the last 256 blocks, the ones the EVM knows.
    error WrongBlockHash(uint256 blockNumber, bytes32 expected);

    /// @param admin Administers the committer role (the timelock on the dev chain).
    /// @param committer First account allowed to commit snapshots.
    constructor(address admin, address committer) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMMITTER_ROLE, committer);
    }

    /// @notice Record the snapshot of `blockNumber`. Committer only, once per block number.
    /// @param blockNumber The block the positions were read at.
    /// @param blockHash That block's hash, so the snapshot names one chain's history.
    /// @param root StandardMerkleTree root over the (account, asset, amount) leaves.
    /// @param contentHash SHA-256 of the archived snapshot file (its content-addressed name).
    /// @param leaves Number of leaves in the tree.
    function commit(
        uint256 blockNumber,
        bytes32 blockHash,
        bytes32 root,
        bytes32 contentHash,
        uint256 leaves
    ) external onlyRole(COMMITTER_ROLE) {
        if (root == bytes32(0)) revert EmptyRoot();
        if (_snapshots[blockNumber].root != bytes32(0)) revert AlreadyCommitted(blockNumber);
        // The head block itself is let through: nodes estimate gas (and `eth_call`) in the context
        // of the latest block, where the snapshot's block is `block.number`. Once mined, the
        // transaction sees a later block and the hash below is checked.
        if (blockNumber > block.number) revert FutureBlock(blockNumber);
        bytes32 known = blockhash(blockNumber);
        // Compared in this order so the estimate's path (hash not yet known: both tests run) costs
        // at least the mined path's (hash known and equal: one test), else an exact estimate runs
        // out of gas once mined.
        if (known != blockHash && known != bytes32(0)) revert WrongBlockHash(blockNumber, known);

        _snapshots[blockNumber] = Snapshot({root: root, blockHash: blockHash, contentHash: contentHash, leaves: leaves});
        emit SnapshotCommitted(blockNumber, root, blockHash, contentHash, leaves);
    }

    /// @notice The committed root for `blockNumber`, or zero if none.
    function rootOf(uint256 blockNumber) external view returns (bytes32) {
        return _snapshots[blockNumber].root;
    }

    /// @notice Everything committed for `blockNumber` (all zero if nothing was).
    function snapshotOf(
        uint256 blockNumber
    ) external view returns (bytes32 root, bytes32 blockHash, bytes32 contentHash, uint256 leaves) {
        Snapshot storage snapshot = _snapshots[blockNumber];
        return (snapshot.root, snapshot.blockHash, snapshot.contentHash, snapshot.leaves);
    }

    /// @notice Whether `account` held `amount` of `asset` at `blockNumber`, by the committed root.
    /// @dev False, not a revert, for a block never committed: there is nothing to prove against.
    /// @param blockNumber A committed snapshot's block.
    /// @param proof The StandardMerkleTree proof of the leaf.
    /// @param account The holder.
    /// @param asset The token (or position) the amount is in.
    /// @param amount The amount in the asset's base units.
    function proves(
        uint256 blockNumber,
        bytes32[] calldata proof,
        address account,
        address asset,
        uint256 amount
    ) external view returns (bool) {
        bytes32 root = _snapshots[blockNumber].root;
        if (root == bytes32(0)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, asset, amount))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
