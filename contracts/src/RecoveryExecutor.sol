// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice Minimal surface the executor needs from a migrated token in restore mode.
/// @dev `RecoveryToken` implements it: a token that grants this executor its minter role and mints
///      one receiver (`mint`, used by pull claims) or a whole batch in one call (`mintBatch`, used by
///      push batches: one call and one role check a batch instead of one a recipient).
interface IRecoveryMintable {
    function mint(address to, uint256 amount) external;

    function mintBatch(address[] calldata to, uint256[] calldata amounts) external;
}

/// @notice Surface the executor needs from a migrated margin market in position-restore mode.
/// @dev The demo `MarginMarket` implements it and grants this executor its restorer role. Each row
///      recreates one account exactly as it was at the rollback block; `fundingDebt` is the funding
///      the account owed there (old fundingIndex - entryFunding), carried over onto the new index.
///      The market pulls sum(collateral + margin) of its asset from the caller.
interface IPositionRestorer {
    struct Position {
        address account;
        uint256 collateral;
        uint256 debt;
        int256 size;
        uint256 entryPrice;
        uint256 margin;
        int256 fundingDebt;
    }

    function restorePositions(Position[] calldata rows) external;
}

/// @title RecoveryExecutor
/// @notice Pays out a governance-approved recovery plan, by pushed batches or by holders' claims.
/// @dev Governance (APPROVER_ROLE, normally the timelock) commits to a plan once: a Merkle root,
///      the token, the payout mode and delivery, how many batches exist and a hard budget. What
///      the executor may pay is fixed by that root; it only checks that a payment is one governance
///      approved, that it has not happened before, and that the plan's budget still covers it.
///
///      Push plans (Delivery.Push, Delivery.PushWithFallback): the root is an OpenZeppelin
///      StandardMerkleTree over ["uint256", "address", "uint256", "uint256", "bytes32"] leaves
///      [chainId, executor, planId, batchIndex, keccak256(abi.encode(recipients, amounts))]: the
///      chain id, this contract and the plan id are in every leaf, so an approved root can never
///      be replayed on another chain, executor or plan. An off-chain operator (EXECUTOR_ROLE)
///      submits the batches with their proofs.
///
///      Position-restore plans (Mode.RestorePositions, push only) use the same leaves with
///      keccak256(positions) as the content hash, where positions = abi.encode(market, rows): each
///      batch recreates margin accounts on a migrated market, funded from this contract's balance.
///
///      Pull plans (Delivery.Pull): the root is the plan's allocation tree, leaves
///      ["uint256", "address", "uint256"] = [index, account, amount]; anyone claims a leaf for its
///      account, once, until the claim deadline. Governance may then sweep what is left.
///
///      Plans belong to an incident (an off-chain chosen key) and carry its plan version.
///      Approving a higher version supersedes every earlier version of that incident in the same
///      call: their remaining batches and claims can no longer run.
contract RecoveryExecutor is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to approve and revoke plans and sweep leftover funds (governance).
    bytes32 public constant APPROVER_ROLE = keccak256("APPROVER_ROLE");
    /// @notice Role allowed to submit approved batches (the off-chain operator).
    bytes32 public constant EXECUTOR_ROLE = keccak256("EXECUTOR_ROLE");
    /// @notice Role allowed to pause and unpause payouts (an emergency multisig).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice How a plan pays recipients.
    /// @dev Restitute (0): transfer from this contract's own balance (recovered funds are sent here first).
    ///      Restore (1): mint on a migrated token that granted this contract its minter role.
    ///      RestorePositions (2): recreate margin accounts on a migrated market (`executePositionBatch`),
    ///      paying their collateral and margin in the plan's token from this contract's balance.
    enum Mode {
        Restitute,
        Restore,
        RestorePositions
    }

    /// @notice How payments reach recipients.
    /// @dev Push (0): the operator sends batches; a recipient the token refuses fails its batch.
    ///      PushWithFallback (1): as Push, but a transfer that reverts or returns false credits the
    ///      recipient's claimable balance instead (restitute mode only).
    ///      Pull (2): holders claim their allocation-tree leaf until the claim deadline.
    enum Delivery {
        Push,
        PushWithFallback,
        Pull
    }

    /// @notice Lifecycle of a plan id. `None` means the id was never used.
    enum PlanStatus {
        None,
        Approved,
        Revoked,
        Closed
    }

    /// @notice Everything the contract remembers about a plan.
    /// @dev mode and delivery are stored as uint8 so the ABI is plain integers for off-chain callers.
    ///      token, mode, delivery, status and batchCount share one storage slot; version and the
    ///      claim deadline another.
    struct Plan {
        bytes32 root;
        address token;
        uint8 mode;
        uint8 delivery;
        PlanStatus status;
        uint32 batchCount;
        bytes32 incidentKey;
        uint64 version;
        uint64 claimDeadline;
        uint256 budget;
        uint256 paid;
    }

    mapping(uint256 planId => Plan) private _plans;

    /// @dev One bit per batch (push) or per claim index (pull): a 256-bit word is one storage slot.
    mapping(uint256 planId => mapping(uint256 word => uint256 bits)) private _done;

    /// @notice The plan version currently in force for each incident; earlier versions are superseded.
    mapping(bytes32 incidentKey => uint64 version) public currentVersion;

    /// @notice What a recipient is owed after a failed push transfer, per token.
    mapping(address token => mapping(address account => uint256 amount)) public credited;

    /// @notice Tokens held here that belong to recipients: unclaimed credits and open pull plans.
    /// @dev `sweep` cannot touch them.
    mapping(address token => uint256 amount) public reserved;

    event PlanApproved(
        uint256 indexed planId,
        bytes32 indexed incidentKey,
        address indexed token,
        uint64 version,
        bytes32 root,
        uint8 mode,
        uint8 delivery,
        uint32 batchCount,
        uint256 budget,
        uint64 claimDeadline
    );
    event PlanRevoked(uint256 indexed planId);
    event IncidentVersionAdvanced(bytes32 indexed incidentKey, uint64 previousVersion, uint64 version);
    event BatchExecuted(uint256 indexed planId, uint256 indexed batchIndex, uint256 recipientCount, uint256 total);
    event Credited(uint256 indexed planId, address indexed account, address indexed token, uint256 amount);
    event CreditClaimed(address indexed token, address indexed account, address to, uint256 amount);
    event Claimed(uint256 indexed planId, uint256 indexed index, address indexed account, uint256 amount);
    event PlanClosed(uint256 indexed planId, address to, uint256 remainder);
    event Swept(address indexed token, address indexed to, uint256 amount);

    error PlanAlreadyExists(uint256 planId);
    error InvalidPlan();
    error StaleVersion(bytes32 incidentKey, uint64 version, uint64 currentVersion);
    error PlanNotActive(uint256 planId);
    error PlanSuperseded(uint256 planId, uint64 version, uint64 currentVersion);
    error WrongDelivery(uint256 planId, uint8 delivery);
    /// @dev The plan's mode needs the other batch entry point (`executeBatch` vs `executePositionBatch`).
    error WrongMode(uint256 planId, uint8 mode);
    error EmptyBatch(uint256 planId, uint256 batchIndex);
    error BatchIndexOutOfRange(uint256 batchIndex, uint256 batchCount);
    error BatchAlreadyExecuted(uint256 planId, uint256 batchIndex);
    error AlreadyClaimed(uint256 planId, uint256 index);
    error ClaimDeadlinePassed(uint256 planId, uint64 claimDeadline);
    error ClaimsStillOpen(uint256 planId, uint64 claimDeadline);
    error LengthMismatch(uint256 recipients, uint256 amounts);
    error InvalidProof(uint256 planId, uint256 batchIndex);
    error OverBudget(uint256 planId, uint256 total, uint256 remaining);
    error NothingCredited(address token, address account);
    /// @dev The contract holds `available` of `token` beyond what is reserved for recipients:
    ///      too little for a restitute batch or a sweep.
    error ReservedFunds(address token, uint256 available);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (can grant and revoke every role).
    /// @param approver Receives APPROVER_ROLE (normally the governance timelock).
    /// @param executor Receives EXECUTOR_ROLE (the operator that submits batches).
    /// @param guardian Receives GUARDIAN_ROLE (can pause payouts).
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
    ///         so an approval on-chain always refers to exactly one set of payments.
    /// @param planId Identifier chosen off-chain; must never have been used.
    /// @param incidentKey The incident the plan belongs to (chosen off-chain, non-zero).
    /// @param version The plan's version for that incident: at least the current one; a higher
    ///        version supersedes every earlier version of the incident.
    /// @param root Batch commitment root (push) or allocation root (pull).
    /// @param token Token paid out (the recovered asset in restitute mode, the migrated token in restore
    ///        mode, the migrated market's asset in position-restore mode).
    /// @param mode 0 = restitute (transfer), 1 = restore (mint), 2 = restore margin positions (push only).
    /// @param delivery 0 = push, 1 = push with the claimable fallback (restitute only), 2 = pull.
    /// @param batchCount Push: number of batches in the tree. Pull: number of allocation leaves.
    /// @param budget Hard cap on the sum of all payouts of this plan.
    /// @param claimDeadline Pull: last timestamp a claim is accepted (in the future). Push: 0.
    function approvePlan(
        uint256 planId,
        bytes32 incidentKey,
        uint64 version,
        bytes32 root,
        address token,
        uint8 mode,
        uint8 delivery,
        uint32 batchCount,
        uint256 budget,
        uint64 claimDeadline
    ) external onlyRole(APPROVER_ROLE) {
        Plan storage plan = _plans[planId];
        if (plan.status != PlanStatus.None) revert PlanAlreadyExists(planId);
        if (
            incidentKey == bytes32(0) || version == 0 || root == bytes32(0) || token == address(0) || batchCount == 0
                || mode > uint8(type(Mode).max) || delivery > uint8(type(Delivery).max)
        ) revert InvalidPlan();
        bool pull = delivery == uint8(Delivery.Pull);
        if (pull ? claimDeadline <= block.timestamp : claimDeadline != 0) revert InvalidPlan();
        if (delivery == uint8(Delivery.PushWithFallback) && mode != uint8(Mode.Restitute)) revert InvalidPlan();
        // A restored position is a whole account, not an amount a holder could claim or be credited.
        if (mode == uint8(Mode.RestorePositions) && delivery != uint8(Delivery.Push)) revert InvalidPlan();

        _advanceVersion(incidentKey, version);

        plan.root = root;
        plan.token = token;
        plan.mode = mode;
        plan.delivery = delivery;
        plan.status = PlanStatus.Approved;
        plan.batchCount = batchCount;
        plan.incidentKey = incidentKey;
        plan.version = version;
        plan.claimDeadline = claimDeadline;
        plan.budget = budget;
        // A pull plan's budget is held for its claimants until the plan closes.
        if (pull && mode == uint8(Mode.Restitute)) reserved[token] += budget;

        _emitApproved(planId);
    }

    /// @notice Stop a plan for good. Payments already made stay made; the remaining ones can no longer run.
    /// @dev There is deliberately no way back to Approved: a corrected plan gets a new id and a new vote.
    ///      A revoked pull plan keeps its funds reserved until `closePlan` releases them.
    /// @param planId The plan to revoke; must currently be Approved.
    function revokePlan(uint256 planId) external onlyRole(APPROVER_ROLE) {
        Plan storage plan = _plans[planId];
        if (plan.status != PlanStatus.Approved) revert PlanNotActive(planId);
        plan.status = PlanStatus.Revoked;
        emit PlanRevoked(planId);
    }

    /// @notice Close a pull plan whose claims are over (deadline passed, or the plan revoked or
    ///         superseded), sending what was not claimed to `to` (restitute) or just ending the mints (restore).
    /// @param planId A pull plan.
    /// @param to Receiver of the unclaimed remainder.
    function closePlan(uint256 planId, address to) external onlyRole(APPROVER_ROLE) nonReentrant {
        Plan storage plan = _plans[planId];
        if (plan.status != PlanStatus.Approved && plan.status != PlanStatus.Revoked) revert PlanNotActive(planId);
        if (plan.delivery != uint8(Delivery.Pull)) revert WrongDelivery(planId, plan.delivery);
        bool over = plan.status == PlanStatus.Revoked || block.timestamp > plan.claimDeadline
            || currentVersion[plan.incidentKey] != plan.version;
        if (!over) revert ClaimsStillOpen(planId, plan.claimDeadline);
        uint256 remainder = plan.budget - plan.paid;
        plan.status = PlanStatus.Closed;
        if (plan.mode == uint8(Mode.Restitute)) {
            reserved[plan.token] -= remainder;
            if (remainder > 0) IERC20(plan.token).safeTransfer(to, remainder);
        }
        emit PlanClosed(planId, to, remainder);
    }

    /// @notice Move tokens held by this contract that belong to no recipient, e.g. leftovers after a
    ///         restitute plan completes. Unclaimed credits and open pull plans' funds stay.
    /// @dev Intentionally not affected by `pause`: pausing exists to stop payouts, and governance
    ///      must still be able to rescue the funds while they are frozen.
    /// @param token Token to move.
    /// @param to Receiver.
    /// @param amount Amount in the token's smallest unit.
    function sweep(address token, address to, uint256 amount) external onlyRole(APPROVER_ROLE) {
        _requireFree(token, amount);
        IERC20(token).safeTransfer(to, amount);
        emit Swept(token, to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Guardian
    // ---------------------------------------------------------------------------------------------

    /// @notice Freeze every payout: batches, claims and credit withdrawals.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Resume payouts.
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Push
    // ---------------------------------------------------------------------------------------------

    /// @notice Pay one approved batch of a push plan.
    /// @dev The checks run in a fixed order so callers get the most specific error first. A
    ///      restitute batch must be covered by the balance not reserved for others, or it reverts
    ///      `ReservedFunds(token, available)` (fund the contract, then retry). All state
    ///      is written before any token call (checks-effects-interactions); nonReentrant is a second
    ///      line of defence because payouts call into an arbitrary token contract.
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
        Plan storage plan = _activePlan(planId);
        if (plan.delivery == uint8(Delivery.Pull)) revert WrongDelivery(planId, plan.delivery);
        if (plan.mode == uint8(Mode.RestorePositions)) revert WrongMode(planId, plan.mode);
        if (batchIndex >= plan.batchCount) revert BatchIndexOutOfRange(batchIndex, plan.batchCount);
        if (_isDone(planId, batchIndex)) revert BatchAlreadyExecuted(planId, batchIndex);
        if (recipients.length != amounts.length || recipients.length == 0) {
            revert LengthMismatch(recipients.length, amounts.length);
        }
        if (!MerkleProof.verifyCalldata(proof, plan.root, _batchLeaf(planId, batchIndex, recipients, amounts))) {
            revert InvalidProof(planId, batchIndex);
        }

        uint256 total = _sum(amounts);
        _spend(plan, planId, total);
        // Restitute pays from this contract's balance, which also holds other recipients' money
        // (credits, open pull plans): a batch may only use what is free. Without this check an
        // underfunded PushWithFallback batch would "credit" everyone with tokens that are not here.
        if (plan.mode == uint8(Mode.Restitute)) _requireFree(plan.token, total);
        // Effects before interactions: a re-entrant or repeated call sees the batch as spent.
        _markDone(planId, batchIndex);

        if (plan.mode == uint8(Mode.Restore)) {
            _mintAll(plan.token, recipients, amounts);
        } else if (plan.delivery == uint8(Delivery.PushWithFallback)) {
            _transferOrCredit(planId, plan.token, recipients, amounts);
        } else {
            _transferAll(plan.token, recipients, amounts);
        }

        emit BatchExecuted(planId, batchIndex, recipients.length, total);
    }

    /// @notice Restore one approved batch of margin accounts on a migrated market.
    /// @dev Same checks, order and exactly-once bitmap as `executeBatch`. The batch's collateral and
    ///      margin come out of the plan budget and out of this contract's free balance of the plan's
    ///      token (fund it first); the market pulls them through an allowance that lives only for the
    ///      call. The batch is marked done before the market is called.
    /// @param planId A position-restore plan.
    /// @param batchIndex Position of the batch in the plan's tree.
    /// @param positions abi.encode(address market, IPositionRestorer.Position[] rows), byte for byte
    ///        as committed to in the tree (its keccak256 is the leaf's content hash).
    /// @param proof StandardMerkleTree proof for the batch's leaf (empty for a single-batch plan).
    function executePositionBatch(
        uint256 planId,
        uint256 batchIndex,
        bytes calldata positions,
        bytes32[] calldata proof
    ) external onlyRole(EXECUTOR_ROLE) whenNotPaused nonReentrant {
        Plan storage plan = _activePlan(planId);
        if (plan.mode != uint8(Mode.RestorePositions)) revert WrongMode(planId, plan.mode);
        if (batchIndex >= plan.batchCount) revert BatchIndexOutOfRange(batchIndex, plan.batchCount);
        if (_isDone(planId, batchIndex)) revert BatchAlreadyExecuted(planId, batchIndex);
        if (!MerkleProof.verifyCalldata(proof, plan.root, _leaf(planId, batchIndex, keccak256(positions)))) {
            revert InvalidProof(planId, batchIndex);
        }
        (address market, IPositionRestorer.Position[] memory rows) =
            abi.decode(positions, (address, IPositionRestorer.Position[]));
        if (rows.length == 0) revert EmptyBatch(planId, batchIndex);

        uint256 total;
        for (uint256 i; i < rows.length; ++i) {
            total += rows[i].collateral + rows[i].margin;
        }
        _spend(plan, planId, total);
        _requireFree(plan.token, total);
        _markDone(planId, batchIndex);

        IERC20 asset = IERC20(plan.token);
        asset.forceApprove(market, total);
        IPositionRestorer(market).restorePositions(rows);
        // The market pulls exactly `total`; zeroing anyway leaves no standing allowance if it took less.
        asset.forceApprove(market, 0);

        emit BatchExecuted(planId, batchIndex, rows.length, total);
    }

    /// @notice Send a recipient's credit (from failed push transfers) to the recipient.
    /// @dev Anyone may call it for the recipient, e.g. once a token has unblocked the address.
    /// @param token The token credited.
    /// @param account The recipient.
    function claimCredit(address token, address account) external whenNotPaused nonReentrant {
        _payCredit(token, account, account);
    }

    /// @notice Send the caller's own credit to another address (a blocked address cannot receive).
    /// @param token The token credited.
    /// @param to Receiver.
    function withdrawCredit(address token, address to) external whenNotPaused nonReentrant {
        _payCredit(token, msg.sender, to);
    }

    // ---------------------------------------------------------------------------------------------
    // Pull
    // ---------------------------------------------------------------------------------------------

    /// @notice Claim one allocation of a pull plan for its account. Anyone may submit it; the
    ///         tokens always go to `account`.
    /// @param planId The pull plan.
    /// @param index The allocation's index in the tree's values (the leaf's first field).
    /// @param account The allocation's account.
    /// @param amount The allocation's amount.
    /// @param proof StandardMerkleTree proof of [index, account, amount] against the plan's root.
    function claim(uint256 planId, uint256 index, address account, uint256 amount, bytes32[] calldata proof)
        external
        whenNotPaused
        nonReentrant
    {
        Plan storage plan = _activePlan(planId);
        if (plan.delivery != uint8(Delivery.Pull)) revert WrongDelivery(planId, plan.delivery);
        if (block.timestamp > plan.claimDeadline) revert ClaimDeadlinePassed(planId, plan.claimDeadline);
        if (_isDone(planId, index)) revert AlreadyClaimed(planId, index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, plan.root, leaf)) revert InvalidProof(planId, index);

        _spend(plan, planId, amount);
        _markDone(planId, index);

        if (plan.mode == uint8(Mode.Restore)) {
            IRecoveryMintable(plan.token).mint(account, amount);
        } else {
            reserved[plan.token] -= amount;
            IERC20(plan.token).safeTransfer(account, amount);
        }
        emit Claimed(planId, index, account, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The Merkle leaf a batch must be proven against on this chain and executor, so
    ///         off-chain code can cross-check its tree.
    /// @param planId The plan.
    /// @param batchIndex Position of the batch in the plan's tree.
    /// @param recipients Batch recipients in order.
    /// @param amounts Batch amounts in order.
    /// @return The StandardMerkleTree leaf for [chainId, this, planId, batchIndex, contentHash].
    function batchLeaf(
        uint256 planId,
        uint256 batchIndex,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) external view returns (bytes32) {
        return _batchLeaf(planId, batchIndex, recipients, amounts);
    }

    /// @notice The Merkle leaf a position-restore batch must be proven against on this chain and executor.
    /// @param planId The plan.
    /// @param batchIndex Position of the batch in the plan's tree.
    /// @param positions The batch payload, abi.encode(market, rows).
    /// @return The StandardMerkleTree leaf for [chainId, this, planId, batchIndex, keccak256(positions)].
    function positionBatchLeaf(uint256 planId, uint256 batchIndex, bytes calldata positions)
        external
        view
        returns (bytes32)
    {
        return _leaf(planId, batchIndex, keccak256(positions));
    }

    /// @notice Whether a batch of a push plan has already been paid.
    function isBatchExecuted(uint256 planId, uint256 batchIndex) external view returns (bool) {
        return _isDone(planId, batchIndex);
    }

    /// @notice Whether an allocation of a pull plan has already been claimed.
    function isClaimed(uint256 planId, uint256 index) external view returns (bool) {
        return _isDone(planId, index);
    }

    /// @notice Everything stored for a plan (all zero with status None for an unused id).
    function getPlan(uint256 planId) external view returns (Plan memory) {
        return _plans[planId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    function _advanceVersion(bytes32 incidentKey, uint64 version) private {
        uint64 current = currentVersion[incidentKey];
        if (version < current) revert StaleVersion(incidentKey, version, current);
        if (version > current) {
            currentVersion[incidentKey] = version;
            emit IncidentVersionAdvanced(incidentKey, current, version);
        }
    }

    function _emitApproved(uint256 planId) private {
        Plan storage plan = _plans[planId];
        emit PlanApproved(
            planId,
            plan.incidentKey,
            plan.token,
            plan.version,
            plan.root,
            plan.mode,
            plan.delivery,
            plan.batchCount,
            plan.budget,
            plan.claimDeadline
        );
    }

    /// @dev An approved plan whose version is still the incident's current one.
    function _activePlan(uint256 planId) private view returns (Plan storage plan) {
        plan = _plans[planId];
        if (plan.status != PlanStatus.Approved) revert PlanNotActive(planId);
        uint64 current = currentVersion[plan.incidentKey];
        if (plan.version != current) revert PlanSuperseded(planId, plan.version, current);
    }

    function _spend(Plan storage plan, uint256 planId, uint256 total) private {
        // paid never exceeds budget (enforced right here), so this subtraction cannot underflow.
        uint256 remaining = plan.budget - plan.paid;
        if (total > remaining) revert OverBudget(planId, total, remaining);
        plan.paid += total;
    }

    /// @dev StandardMerkleTree double-hashes leaves so a leaf can never be confused with an inner
    ///      node (which is the hash of 64 bytes) — that is what makes second-preimage proofs fail.
    function _batchLeaf(
        uint256 planId,
        uint256 batchIndex,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) private view returns (bytes32) {
        return _leaf(planId, batchIndex, _contentHash(recipients, amounts));
    }

    function _leaf(uint256 planId, uint256 batchIndex, bytes32 contentHash) private view returns (bytes32) {
        return keccak256(
            bytes.concat(keccak256(abi.encode(block.chainid, address(this), planId, batchIndex, contentHash)))
        );
    }

    /// @dev Reverts `ReservedFunds` unless `amount` of `token` is held here beyond what is reserved
    ///      for recipients (credits and open pull plans).
    function _requireFree(address token, uint256 amount) private view {
        uint256 held = IERC20(token).balanceOf(address(this));
        uint256 owed = reserved[token];
        uint256 available = held > owed ? held - owed : 0;
        if (amount > available) revert ReservedFunds(token, available);
    }

    function _isDone(uint256 planId, uint256 index) private view returns (bool) {
        return _done[planId][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    function _markDone(uint256 planId, uint256 index) private {
        _done[planId][index >> 8] |= uint256(1) << (index & 0xff);
    }

    /// @dev keccak256(abi.encode(recipients, amounts)), hashed from a copy of the calldata words
    ///      instead of re-encoding each element (about 125 gas less per recipient). The two head
    ///      offsets and the lengths are written here, so the bytes are the canonical encoding. An
    ///      address with dirty upper bits hashes differently from its clean form, so such a batch fails
    ///      its proof; it could never be paid anyway, as Solidity refuses to read such an address.
    function _contentHash(address[] calldata recipients, uint256[] calldata amounts)
        private
        pure
        returns (bytes32 hash)
    {
        assembly ("memory-safe") {
            let n := recipients.length
            let ptr := mload(0x40)
            mstore(ptr, 0x40)
            mstore(add(ptr, 0x20), add(0x60, shl(5, n)))
            mstore(add(ptr, 0x40), n)
            calldatacopy(add(ptr, 0x60), recipients.offset, shl(5, n))
            let second := add(add(ptr, 0x60), shl(5, n))
            mstore(second, amounts.length)
            calldatacopy(add(second, 0x20), amounts.offset, shl(5, amounts.length))
            hash := keccak256(ptr, add(0x80, shl(5, add(n, amounts.length))))
        }
    }

    /// @dev An overflowing batch reverts (Panic 0x11, as checked arithmetic would) instead of wrapping
    ///      to a small total that would slip under the budget; the loop itself skips the per-step checks.
    function _sum(uint256[] calldata amounts) private pure returns (uint256 total) {
        unchecked {
            for (uint256 i; i < amounts.length; ++i) {
                uint256 next = total + amounts[i];
                if (next < total) {
                    assembly ("memory-safe") {
                        mstore(0x00, 0x4e487b71)
                        mstore(0x20, 0x11)
                        revert(0x1c, 0x24)
                    }
                }
                total = next;
            }
        }
    }

    function _transferAll(address token, address[] calldata recipients, uint256[] calldata amounts) private {
        for (uint256 i; i < recipients.length; ++i) {
            IERC20(token).safeTransfer(recipients[i], amounts[i]);
        }
    }

    /// @dev A recipient the token refuses (reverts, or returns false) is credited instead: the tokens
    ///      stay here, reserved for it, and the rest of the batch is paid.
    function _transferOrCredit(
        uint256 planId,
        address token,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) private {
        for (uint256 i; i < recipients.length; ++i) {
            if (!IERC20(token).trySafeTransfer(recipients[i], amounts[i])) {
                credited[token][recipients[i]] += amounts[i];
                reserved[token] += amounts[i];
                emit Credited(planId, recipients[i], token, amounts[i]);
            }
        }
    }

    function _mintAll(address token, address[] calldata recipients, uint256[] calldata amounts) private {
        IRecoveryMintable(token).mintBatch(recipients, amounts);
    }

    function _payCredit(address token, address account, address to) private {
        uint256 amount = credited[token][account];
        if (amount == 0) revert NothingCredited(token, account);
        credited[token][account] = 0;
        reserved[token] -= amount;
        IERC20(token).safeTransfer(to, amount);
        emit CreditClaimed(token, account, to, amount);
    }
}
