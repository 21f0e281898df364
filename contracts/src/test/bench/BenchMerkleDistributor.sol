// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title BenchMerkleDistributor
/// @notice BENCHMARK HELPER, not part of the product: a minimal merkle-distributor-style claim
///         contract (the widely forked Uniswap design) that the gas benchmark compares
///         `RecoveryExecutor.claim` with.
/// @dev One root fixed at deployment, a claimed bitmap (one bit per index, 256 per storage slot),
///      leaf keccak256(abi.encodePacked(index, account, amount)) hashed once, sorted-pair proofs,
///      a plain `transfer` whose boolean result must be true. No pause, no deadline, no budget,
///      no reentrancy guard.
contract BenchMerkleDistributor {
    /// @notice The token paid out (held by this contract).
    IERC20 public immutable token;
    /// @notice Root of the allocation tree.
    bytes32 public immutable merkleRoot;

    mapping(uint256 word => uint256 bits) private _claimed;

    /// @notice One allocation claimed.
    event Claimed(uint256 index, address account, uint256 amount);

    /// @notice The index was claimed before.
    error AlreadyClaimed(uint256 index);
    /// @notice The proof does not lead to the root.
    error InvalidProof(uint256 index);
    /// @notice The token returned false.
    error TransferFailed(uint256 index);

    /// @param token_ Token to pay out; fund this contract with it after deployment.
    /// @param merkleRoot_ Root over keccak256(abi.encodePacked(index, account, amount)) leaves, sorted pairs.
    constructor(IERC20 token_, bytes32 merkleRoot_) {
        token = token_;
        merkleRoot = merkleRoot_;
    }

    /// @notice Whether `index` was claimed.
    function isClaimed(uint256 index) public view returns (bool) {
        return _claimed[index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    /// @notice Pay `amount` to `account` for allocation `index`, once. Anyone may submit it.
    /// @param index The allocation's index.
    /// @param account The allocation's account.
    /// @param amount The allocation's amount.
    /// @param merkleProof Sorted-pair proof of the leaf against `merkleRoot`.
    function claim(uint256 index, address account, uint256 amount, bytes32[] calldata merkleProof) external {
        if (isClaimed(index)) revert AlreadyClaimed(index);
        bytes32 node = keccak256(abi.encodePacked(index, account, amount));
        if (!MerkleProof.verifyCalldata(merkleProof, merkleRoot, node)) revert InvalidProof(index);
        _claimed[index >> 8] |= uint256(1) << (index & 0xff);
        if (!token.transfer(account, amount)) revert TransferFailed(index);
        emit Claimed(index, account, amount);
    }
}
