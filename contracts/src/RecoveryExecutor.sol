// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice Minimal surface the executor needs from a migrated token in restore mode.
/// @dev `RecoveryToken` implements it; any token that grants this executor a minter role works.
interface IRecoveryMintable {
    function mint(address to, uint256 amount) external;
}

/// @title RecoveryExecutor
/// @notice Pays out a governance-approved recovery plan in Merkle-committed batches.
/// @dev Governance (APPROVER_ROLE, normally the timelock) commits to a plan once: a Merkle root over
///      all batches, the token, the payout mode, how many batches exist and a hard budget. An
///      off-chain operator (EXECUTOR_ROLE) then submits batches one at a time with a proof. The
///      executor never decides *who* gets paid; it only checks that a batch is exactly one that
///      governance approved, that it has not run before, and that the plan's budget still covers it.
///
///      Leaves follow OpenZeppelin's StandardMerkleTree with leaf encoding ["uint256", "bytes32"]
///      and value [batchIndex, keccak256(abi.encode(recipients, amounts))], so the off-chain tree
///      can be built with OpenZeppelin's merkle-tree JS library or an equivalent implementation.
contract RecoveryExecutor is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to approve and revoke plans and sweep leftover funds (governance).
    bytes32 public constant APPROVER_ROLE = keccak256("APPROVER_ROLE");
    /// @notice Role allowed to submit approved batches (the off-chain operator).
    bytes32 public constant EXECUTOR_ROLE = keccak256("EXECUTOR_ROLE");
    /// @notice Role allowed to pause and unpause batch execution (an emergency multisig).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice How a plan pays recipients.
    /// @dev Restitute (0): transfer from this contract's own balance (recovered funds are sent here first).
    ///      Restore (1): mint on a migrated token that granted this contract its minter role.
    enum Mode {
        Restitute,
        Restore
    }

    /// @notice Lifecycle of a plan id. `None` means the id was never used.
    enum PlanStatus {
        None,
        Approved,
        Revoked
    }

    /// @notice Everything the contract remembers about a plan.
    /// @dev `mode` is stored as uint8 (not `Mode`) so the ABI is a plain integer for off-chain callers.
    ///      token, mode, status and batchCount pack into a single storage slot.
    struct Plan {
        bytes32 batchesRoot;
        address token;
        uint8 mode;
        PlanStatus status;
        uint32 batchCount;
        uint256 budget;
        uint256 paid;
    }

    mapping(uint256 planId => Plan) private _plans;

    /// @dev One bit per batch: a 256-batch word costs one storage slot, which keeps marking batches cheap.
    mapping(uint256 planId => mapping(uint256 word => uint256 bits)) private _executedBatches;

    event PlanApproved(
        uint256 indexed planId,
        bytes32 batchesRoot,
        address indexed token,
        uint8 mode,
        uint32 batchCount,
        uint256 budget
    );
    event PlanRevoked(uint256 indexed planId);
    event BatchExecuted(uint256 indexed planId, uint256 indexed batchIndex, uint256 recipientCount, uint256 total);
    event Swept(address indexed token, address indexed to, uint256 amount);

    error PlanAlreadyExists(uint256 planId);
    error InvalidPlan();
    error PlanNotActive(uint256 planId);
    error BatchIndexOutOfRange(uint256 batchIndex, uint256 batchCount);
    error BatchAlreadyExecuted(uint256 planId, uint256 batchIndex);
    error LengthMismatch(uint256 recipients, uint256 amounts);
    error InvalidProof(uint256 planId, uint256 batchIndex);
    error OverBudget(uint256 planId, uint256 total, uint256 remaining);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (can grant and revoke every role).
    /// @param approver Receives APPROVER_ROLE (normally the governance timelock).
    /// @param executor Receives EXECUTOR_ROLE (the operator that submits batches).
    /// @param guardian Receives GUARDIAN_ROLE (can pause batch execution).
    constructor(address admin, address approver, address executor, address guardian) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(APPROVER_ROLE, approver);
        _grantRole(EXECUTOR_ROLE, executor);
        _grantRole(GUARDIAN_ROLE, guardian);
    }

    // ---------------------------------------------------------------------------------------------
    // Governance
    // ---------------------------------------------------------------------------------------------

    /// @notice Commit to a recovery plan. A plan id can be used once, ever (even after revocation),
    ///         so an approval on-chain always refers to exactly one set of batches.
    /// @param planId Identifier chosen off-chain; must never have been used.
    /// @param batchesRoot StandardMerkleTree root over [batchIndex, contentHash] leaves.
    /// @param token Token paid out (the recovered asset in restitute mode, the migrated token in restore mode).
    /// @param mode 0 = restitute (transfer), 1 = restore (mint).
    /// @param batchCount Number of batches in the tree; indexes at or above it are rejected.
    /// @param budget Hard cap on the sum of all payouts of this plan.
    function approvePlan(
        uint256 planId,
        bytes32 batchesRoot,
        address token,
        uint8 mode,
        uint32 batchCount,
        uint256 budget
    ) external onlyRole(APPROVER_ROLE) {
        if (_plans[planId].status != PlanStatus.None) revert PlanAlreadyExists(planId);
        if (batchesRoot == bytes32(0) || token == address(0) || batchCount == 0 || mode > uint8(type(Mode).max)) {
            revert InvalidPlan();
        }

        _plans[planId] = Plan({
            batchesRoot: batchesRoot,
            token: token,
            mode: mode,
            status: PlanStatus.Approved,
            batchCount: batchCount,
            budget: budget,
            paid: 0
        });

        emit PlanApproved(planId, batchesRoot, token, mode, batchCount, budget);
    }

    /// @notice Stop a plan for good. Batches already paid stay paid; the remaining ones can no longer run.
    /// @dev There is deliberately no way back to Approved: a corrected plan gets a new id and a new vote.
    /// @param planId The plan to revoke; must currently be Approved.
    function revokePlan(uint256 planId) external onlyRole(APPROVER_ROLE) {
        Plan storage plan = _plans[planId];
        if (plan.status != PlanStatus.Approved) revert PlanNotActive(planId);
        plan.status = PlanStatus.Revoked;
        emit PlanRevoked(planId);
    }

    /// @notice Move tokens held by this contract, e.g. leftovers after a restitute plan completes.
    /// @dev Intentionally not affected by `pause`: pausing exists to stop the operator, and governance
    ///      must still be able to rescue the funds while execution is frozen.
    /// @param token Token to move.
    /// @param to Receiver.
    /// @param amount Amount in the token's smallest unit.
    function sweep(address token, address to, uint256 amount) external onlyRole(APPROVER_ROLE) {
        IERC20(token).safeTransfer(to, amount);
        emit Swept(token, to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Guardian
    // ---------------------------------------------------------------------------------------------

    /// @notice Freeze batch execution (e.g. the operator key is suspected compromised).
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Resume batch execution.
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Execution
    // ---------------------------------------------------------------------------------------------

    /// @notice Pay one approved batch of a plan.
    /// @dev The checks run in a fixed order so callers get the most specific error first. All state
    ///      is written before any token call (checks-effects-interactions); nonReentrant is a second
    ///      line of defence because restore mode calls into an arbitrary token contract.
    /// @param planId The plan the batch belongs to.
    /// @param batchIndex Position of the batch in the plan's tree.
    /// @param recipients Addresses to pay, in the exact order committed to in the tree.
    /// @param amounts Amount for each recipient, same order and length as `recipients`.
    /// @param proof StandardMerkleTree proof for the batch's leaf (empty for a single-batch plan).
    function executeBatch(
        uint256 planId,
        uint256 batchIndex,
        address[] calldata recipients,
        uint256[] calldata amounts,
        bytes32[] calldata proof
    ) external onlyRole(EXECUTOR_ROLE) whenNotPaused nonReentrant {
        // Calldata arrays cost two stack slots each, so the work is split into small helpers to stay
        // within the EVM's reachable stack without resorting to via-IR compilation.
        Plan storage plan = _plans[planId];
        if (plan.status != PlanStatus.Approved) revert PlanNotActive(planId);
        if (batchIndex >= plan.batchCount) revert BatchIndexOutOfRange(batchIndex, plan.batchCount);
        if (_isExecuted(planId, batchIndex)) revert BatchAlreadyExecuted(planId, batchIndex);
        if (recipients.length != amounts.length || recipients.length == 0) {
            revert LengthMismatch(recipients.length, amounts.length);
        }
        if (!MerkleProof.verifyCalldata(proof, plan.batchesRoot, _leaf(batchIndex, recipients, amounts))) {
            revert InvalidProof(planId, batchIndex);
        }

        uint256 total = _sum(amounts);
        // paid never exceeds budget (enforced right here), so this subtraction cannot underflow.
        uint256 remaining = plan.budget - plan.paid;
        if (total > remaining) revert OverBudget(planId, total, remaining);

        // Effects before interactions: a re-entrant or repeated call sees the batch as spent.
        _executedBatches[planId][batchIndex >> 8] |= uint256(1) << (batchIndex & 0xff);
        plan.paid += total;

        _pay(plan.token, plan.mode, recipients, amounts);

        emit BatchExecuted(planId, batchIndex, recipients.length, total);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The Merkle leaf a batch must be proven against, so off-chain code can cross-check its tree.
    /// @param batchIndex Position of the batch in the plan's tree.
    /// @param recipients Batch recipients in order.
    /// @param amounts Batch amounts in order.
    /// @return The StandardMerkleTree leaf for [batchIndex, keccak256(abi.encode(recipients, amounts))].
    function batchLeaf(
        uint256 batchIndex,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) external pure returns (bytes32) {
        return _leaf(batchIndex, recipients, amounts);
    }

    /// @notice Whether a batch of a plan has already been paid.
    /// @param planId The plan.
    /// @param batchIndex The batch.
    /// @return True once the batch has been executed.
    function isBatchExecuted(uint256 planId, uint256 batchIndex) external view returns (bool) {
        return _isExecuted(planId, batchIndex);
    }

    /// @notice Everything stored for a plan (all zero with status None for an unused id).
    /// @param planId The plan.
    /// @return The stored plan.
    function getPlan(uint256 planId) external view returns (Plan memory) {
        return _plans[planId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev StandardMerkleTree double-hashes leaves so a leaf can never be confused with an inner
    ///      node (which is the hash of 64 bytes) — that is what makes second-preimage proofs fail.
    function _leaf(
        uint256 batchIndex,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) private pure returns (bytes32) {
        bytes32 contentHash = keccak256(abi.encode(recipients, amounts));
        return keccak256(bytes.concat(keccak256(abi.encode(batchIndex, contentHash))));
    }

    function _isExecuted(uint256 planId, uint256 batchIndex) private view returns (bool) {
        return _executedBatches[planId][batchIndex >> 8] & (uint256(1) << (batchIndex & 0xff)) != 0;
    }

    /// @dev Checked addition: an overflowing batch reverts (Panic 0x11) instead of wrapping to a
    ///      small total that would slip under the budget.
    function _sum(uint256[] calldata amounts) private pure returns (uint256 total) {
        for (uint256 i; i < amounts.length; ++i) {
            total += amounts[i];
        }
    }

    function _pay(address token, uint8 mode, address[] calldata recipients, uint256[] calldata amounts) private {
        if (mode == uint8(Mode.Restitute)) {
            for (uint256 i; i < recipients.length; ++i) {
                IERC20(token).safeTransfer(recipients[i], amounts[i]);
            }
        } else {
            for (uint256 i; i < recipients.length; ++i) {
                IRecoveryMintable(token).mint(recipients[i], amounts[i]);
            }
        }
    }
}
