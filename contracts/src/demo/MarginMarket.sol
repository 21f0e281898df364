// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {AggregatorV3Interface} from "contracts/src/demo/DemoPriceFeed.sol";

/// @title MarginMarket
/// @notice A small CDP and perpetuals market, and the ERC20 credit token it lends (USD, 6 decimals).
/// @dev Demo protocol, small but real. Each account holds:
///      - collateral in the asset (dUSD, 6 decimals), against which it may borrow credit;
///      - one perpetual position on the asset's USD price: a signed `size` in asset units (long > 0,
///        short < 0), opened at `entryPrice` with `margin` in the asset, paying funding from `entryFunding`.
///      Valuation uses the feed's price and Solidity's truncating division everywhere, so off-chain
///      code can reproduce every view exactly (`chain/margin.py`). An account is liquidatable when
///      80% of its collateral and margin value plus its open profit is below its debt plus a 5%
///      maintenance margin on its notional; anyone may then repay its debt and take what it holds.
///
///      Every change to an account emits `AccountUpdated` with the account's full resulting state,
///      so the state at any block is the last such event at or before it: Lifeboat rebuilds the
///      book from logs alone and, after an incident, recreates it on a migrated market through
///      `restorePositions` (RESTORER_ROLE, the RecoveryExecutor).
///
///      Roles: the admin (the timelock) administers every role and accrues funding (FUNDING_ROLE);
///      the guardian (the committee) may pause, which stops only liquidations: holders can always
///      repay, add collateral and close their positions.
///      The market holds the asset: collateral, margins, and a reserve that pays profitable closes.
///      A loss beyond an account's collateral and margin is the market's bad debt.
contract MarginMarket is ERC20, AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to pause and unpause liquidations.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Role allowed to recreate accounts (the RecoveryExecutor, on a migrated market).
    bytes32 public constant RESTORER_ROLE = keccak256("RESTORER_ROLE");
    /// @notice Role allowed to move the funding index.
    bytes32 public constant FUNDING_ROLE = keccak256("FUNDING_ROLE");

    /// @notice Share of collateral and margin value that counts towards health, in basis points.
    uint256 public constant LIQUIDATION_THRESHOLD_BPS = 8000;
    /// @notice Maintenance margin on a position's notional, in basis points.
    uint256 public constant MAINTENANCE_MARGIN_BPS = 500;
    /// @notice Decimals of `price()` and of `entryPrice`.
    uint256 public constant PRICE_DECIMALS = 8;
    /// @notice Scale of `fundingIndex`: funding owed = size * (index - entryFunding) / FUNDING_SCALE.
    uint256 public constant FUNDING_SCALE = 1e18;

    uint256 private constant PRICE_SCALE = 10 ** PRICE_DECIMALS;
    uint256 private constant BPS = 10_000;

    /// @dev `AccountUpdated.reason` values.
    uint8 private constant DEPOSIT = 0;
    uint8 private constant WITHDRAW = 1;
    uint8 private constant BORROW = 2;
    uint8 private constant REPAY = 3;
    uint8 private constant OPEN = 4;
    uint8 private constant CLOSE = 5;
    uint8 private constant LIQUIDATED = 6;
    uint8 private constant RESTORED = 7;

    /// @notice One account's book entry (see the contract's notes for units).
    struct Account {
        uint256 collateral;
        uint256 debt;
        int256 size;
        uint256 entryPrice;
        uint256 margin;
        int256 entryFunding;
    }

    /// @notice One account as `restorePositions` recreates it.
    /// @dev `fundingDebt` is the funding the account owed on the old market (its fundingIndex minus
    ///      the account's entryFunding): it is carried over onto this market's index.
    struct Position {
        address account;
        uint256 collateral;
        uint256 debt;
        int256 size;
        uint256 entryPrice;
        uint256 margin;
        int256 fundingDebt;
    }

    /// @notice The asset held as collateral and margin (dUSD in the demo).
    IERC20 public immutable asset;
    /// @notice The asset's USD price feed (8 decimals).
    AggregatorV3Interface public immutable feed;

    /// @notice Cumulative funding per unit of long size, scaled by FUNDING_SCALE (shorts receive it).
    int256 public fundingIndex;

    mapping(address account => Account) private _accounts;

    /// @notice `account`'s full state after a change; `reason` says which (0 deposit .. 7 restored).
    event AccountUpdated(
        address indexed account,
        uint256 collateral,
        uint256 debt,
        int256 size,
        uint256 entryPrice,
        uint256 margin,
        int256 entryFunding,
        uint8 reason
    );
    /// @notice `liquidator` repaid `account`'s debt and took its collateral after closing its position.
    event Liquidated(
        address indexed account,
        address indexed liquidator,
        uint256 price,
        uint256 seizedCollateral,
        uint256 debtRepaid,
        int256 closedSize,
        int256 realizedPnl
    );
    /// @notice The funding index moved by `delta` to `index`.
    event FundingAccrued(int256 delta, int256 index);

    /// @notice The feed answered a price that is not positive.
    error BadPrice(int256 answer);
    /// @notice A role, the asset, the feed or a restored account is the zero address.
    error ZeroAddress();
    /// @notice An amount or size of zero, which would change nothing.
    error ZeroAmount();
    /// @notice The account would be liquidatable after this action.
    error Unhealthy(address account);
    /// @notice The account holds less collateral than asked for.
    error InsufficientCollateral(uint256 collateral, uint256 amount);
    /// @notice More repaid than the account owes.
    error RepayExceedsDebt(uint256 debt, uint256 amount);
    /// @notice The account already has an open position (close it first).
    error PositionOpen(address account);
    /// @notice The account has no open position.
    error NoPosition(address account);
    /// @notice The account is healthy, so it cannot be liquidated.
    error NotLiquidatable(address account);
    /// @notice A restored account must be empty on this market (also a duplicate in one call).
    error AccountNotEmpty(address account);

    /// @param asset_ The collateral and margin asset (dUSD, 6 decimals).
    /// @param feed_ The asset's USD feed (8 decimals).
    /// @param admin Receives DEFAULT_ADMIN_ROLE and FUNDING_ROLE (the timelock).
    /// @param guardian Receives GUARDIAN_ROLE (the committee).
    /// @param name_ The credit token's name.
    /// @param symbol_ The credit token's symbol.
    constructor(
        IERC20 asset_,
        AggregatorV3Interface feed_,
        address admin,
        address guardian,
        string memory name_,
        string memory symbol_
    ) ERC20(name_, symbol_) {
        if (
            address(asset_) == address(0) || address(feed_) == address(0) || admin == address(0)
                || guardian == address(0)
        ) revert ZeroAddress();
        asset = asset_;
        feed = feed_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FUNDING_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @notice 6 decimals: one credit unit is one micro-dollar, like the asset's base unit.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The feed's latest answer (8 decimals); reverts `BadPrice` unless positive.
    function price() public view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        if (answer <= 0) revert BadPrice(answer);
        return uint256(answer);
    }

    /// @notice `account`'s full state.
    function accountOf(
        address account
    )
        external
        view
        returns (
            uint256 collateral,
            uint256 debt,
            int256 size,
            uint256 entryPrice,
            uint256 margin,
            int256 entryFunding
        )
    {
        Account storage a = _accounts[account];
        return (a.collateral, a.debt, a.size, a.entryPrice, a.margin, a.entryFunding);
    }

    /// @notice Collateral and margin value plus open profit less funding owed and debt (USD, 6 decimals).
    function netValue(address account) external view returns (int256) {
        Account storage a = _accounts[account];
        uint256 p = price();
        (int256 pnl, int256 funding) = _openPnl(a, p);
        return _int(a.collateral * p / PRICE_SCALE) + _int(a.margin * p / PRICE_SCALE) + pnl - funding - _int(a.debt);
    }

    /// @notice Health with 18 decimals: below 1e18 is liquidatable; max with no debt and no position.
    function healthFactor(address account) external view returns (uint256) {
        (int256 lhs, uint256 rhs) = _health(_accounts[account], price());
        if (rhs == 0) return type(uint256).max;
        return lhs <= 0 ? 0 : uint256(lhs) * 1e18 / rhs;
    }

    /// @notice Whether anyone may liquidate `account` at the current price.
    function isLiquidatable(address account) public view returns (bool) {
        return _liquidatable(_accounts[account], price());
    }

    // ---------------------------------------------------------------------------------------------
    // Holders
    // ---------------------------------------------------------------------------------------------

    /// @notice Add `amount` of the asset to the caller's collateral (the caller approves the market).
    function depositCollateral(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _accounts[msg.sender].collateral += amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        _updated(msg.sender, DEPOSIT);
    }

    /// @notice Take `amount` of collateral back; the account must stay healthy.
    function withdrawCollateral(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (amount > a.collateral) revert InsufficientCollateral(a.collateral, amount);
        a.collateral -= amount;
        _requireHealthy(msg.sender);
        asset.safeTransfer(msg.sender, amount);
        _updated(msg.sender, WITHDRAW);
    }

    /// @notice Borrow `amount` of credit, minted to the caller; the account must stay healthy.
    function borrow(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _accounts[msg.sender].debt += amount;
        _requireHealthy(msg.sender);
        _mint(msg.sender, amount);
        _updated(msg.sender, BORROW);
    }

    /// @notice Repay `amount` of the caller's debt, burning that much of its credit.
    function repay(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (amount > a.debt) revert RepayExceedsDebt(a.debt, amount);
        a.debt -= amount;
        _burn(msg.sender, amount);
        _updated(msg.sender, REPAY);
    }

    /// @notice Open a perpetual of `size` (long > 0, short < 0) at the current price, adding `margin`.
    /// @dev One position per account; the account must be healthy with it.
    function openPosition(int256 size, uint256 margin) external nonReentrant {
        if (size == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (a.size != 0) revert PositionOpen(msg.sender);
        a.size = size;
        a.entryPrice = price();
        a.entryFunding = fundingIndex;
        a.margin += margin;
        _requireHealthy(msg.sender);
        if (margin > 0) asset.safeTransferFrom(msg.sender, address(this), margin);
        _updated(msg.sender, OPEN);
    }

    /// @notice Close the caller's position at the current price, settling profit or loss into collateral.
    /// @dev Always allowed, even when unhealthy: closing is how a holder reduces risk.
    function closePosition() external nonReentrant {
        Account storage a = _accounts[msg.sender];
        if (a.size == 0) revert NoPosition(msg.sender);
        _close(a, price());
        _updated(msg.sender, CLOSE);
    }

    // ---------------------------------------------------------------------------------------------
    // Liquidation, funding, restore
    // ---------------------------------------------------------------------------------------------

    /// @notice Liquidate an unhealthy `account`: the caller's credit repays its whole debt, its position
    ///         is closed at the current price, and the caller receives all its remaining collateral.
    /// @dev Stopped while paused (the guardian's brake during an incident).
    function liquidate(address account) external whenNotPaused nonReentrant {
        Account storage a = _accounts[account];
        uint256 p = price();
        if (!_liquidatable(a, p)) revert NotLiquidatable(account);
        uint256 debtRepaid = a.debt;
        int256 closedSize = a.size;
        int256 realizedPnl = closedSize == 0 ? int256(0) : _close(a, p);
        uint256 seized = a.collateral;
        delete _accounts[account];
        if (debtRepaid > 0) _burn(msg.sender, debtRepaid);
        _updated(account, LIQUIDATED);
        emit Liquidated(account, msg.sender, p, seized, debtRepaid, closedSize, realizedPnl);
        if (seized > 0) asset.safeTransfer(msg.sender, seized);
    }

    /// @notice Move the funding index by `delta` (positive: longs pay shorts).
    function accrueFunding(int256 delta) external onlyRole(FUNDING_ROLE) {
        int256 index = fundingIndex + delta;
        fundingIndex = index;
        emit FundingAccrued(delta, index);
    }

    /// @notice Recreate accounts exactly as they were on another market, funded by the caller.
    /// @dev Each account must be empty here. No credit is minted: borrowers kept what they borrowed.
    ///      Pulls sum(collateral + margin) of the asset from the caller, once, after the rows.
    function restorePositions(Position[] calldata rows) external onlyRole(RESTORER_ROLE) nonReentrant {
        uint256 total;
        int256 index = fundingIndex;
        for (uint256 i = 0; i < rows.length; ++i) {
            Position calldata row = rows[i];
            if (row.account == address(0)) revert ZeroAddress();
            Account storage a = _accounts[row.account];
            if (
                a.collateral != 0 || a.debt != 0 || a.size != 0 || a.entryPrice != 0 || a.margin != 0
                    || a.entryFunding != 0
            ) revert AccountNotEmpty(row.account);
            a.collateral = row.collateral;
            a.debt = row.debt;
            a.size = row.size;
            a.entryPrice = row.entryPrice;
            a.margin = row.margin;
            a.entryFunding = index - row.fundingDebt;
            total += row.collateral + row.margin;
            _updated(row.account, RESTORED);
        }
        if (total > 0) asset.safeTransferFrom(msg.sender, address(this), total);
    }

    /// @notice Stop liquidations. Guardian only.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Resume liquidations. Guardian only.
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Open profit (USD) and funding owed (USD) of `a`'s position at price `p`; both 0 without one.
    function _openPnl(Account storage a, uint256 p) private view returns (int256 pnl, int256 funding) {
        int256 size = a.size;
        if (size == 0) return (0, 0);
        pnl = size * (_int(p) - _int(a.entryPrice)) / int256(PRICE_SCALE);
        funding = size * (fundingIndex - a.entryFunding) / int256(FUNDING_SCALE);
    }

    /// @dev The two sides of the liquidation test: weighted value plus open profit, and what must be covered.
    function _health(Account storage a, uint256 p) private view returns (int256 lhs, uint256 rhs) {
        (int256 pnl, int256 funding) = _openPnl(a, p);
        uint256 backing = a.collateral * p / PRICE_SCALE + a.margin * p / PRICE_SCALE;
        lhs = _int(backing * LIQUIDATION_THRESHOLD_BPS / BPS) + pnl - funding;
        uint256 notional = _abs(a.size) * p / PRICE_SCALE;
        rhs = a.debt + notional * MAINTENANCE_MARGIN_BPS / BPS;
    }

    function _liquidatable(Account storage a, uint256 p) private view returns (bool) {
        (int256 lhs, uint256 rhs) = _health(a, p);
        return rhs > 0 && lhs < _int(rhs);
    }

    function _requireHealthy(address account) private view {
        if (_liquidatable(_accounts[account], price())) revert Unhealthy(account);
    }

    /// @dev Settle `a`'s position at `p` into its collateral and clear it; returns the realized USD amount.
    function _close(Account storage a, uint256 p) private returns (int256 realized) {
        (int256 pnl, int256 funding) = _openPnl(a, p);
        realized = pnl - funding;
        int256 settled = _int(a.collateral) + _int(a.margin) + realized * int256(PRICE_SCALE) / _int(p);
        a.collateral = settled > 0 ? uint256(settled) : 0;
        a.size = 0;
        a.entryPrice = 0;
        a.margin = 0;
        a.entryFunding = 0;
    }

    function _updated(address account, uint8 reason) private {
        Account storage a = _accounts[account];
        emit AccountUpdated(account, a.collateral, a.debt, a.size, a.entryPrice, a.margin, a.entryFunding, reason);
    }

    function _int(uint256 value) private pure returns (int256) {
        return SafeCast.toInt256(value);
    }

    function _abs(int256 value) private pure returns (uint256) {
        return value >= 0 ? uint256(value) : uint256(-value);
    }
}
