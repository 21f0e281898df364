// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title DemoVault
/// @notice A small ERC4626-style vault whose shares are themselves an ERC20 token.
///
/// @dev ############################################################################################
///      ##  DELIBERATELY VULNERABLE — DEMO ONLY. DO NOT DEPLOY WITH REAL FUNDS.                     ##
///      ##                                                                                          ##
///      ##  `redeem` lets ANY caller burn ANY owner's shares and send the assets to ANY receiver:   ##
///      ##  it never checks or spends the share allowance when msg.sender != owner. This is the    ##
///      ##  exploit that Lifeboat's demo scenario detects and then recovers from (VaultDrainer     ##
///      ##  abuses it). A correct vault would call `_spendAllowance(owner, msg.sender, shares)`.   ##
///      ############################################################################################
///
///      It implements only the subset of ERC4626 the demo needs (no mint/withdraw/preview*/max*),
///      so it does not claim the IERC4626 interface, but it uses the standard event signatures
///      so indexers that understand ERC4626 logs can follow it.
///
///      First response (what Lifeboat's monitors and committee act on):
///      - the *guardian* (a fast-acting committee key) may `pause()`: deposits and redeems stop, which
///        also stops the exploit above; the guardian or governance may `unpause()`;
///      - governance or the guardian may `shutdown()` once, for good: deposits stop and every holder
///        may take their pro-rata share of the collateral with `emergencyWithdraw`, even while paused.
///      Two plain immutable addresses rather than AccessControl: the roles never change in the demo,
///      and a smaller contract is easier to read on the escape-hatch page.
contract DemoVault is ERC20, Pausable {
    using SafeERC20 for IERC20;

    IERC20 private immutable _asset;

    /// @notice The protocol's governance (the timelock on the dev chain): may unpause and shut down.
    address public immutable governance;

    /// @notice The guardian (the committee on the dev chain): may pause, unpause and shut down.
    address public immutable guardian;

    /// @notice Whether `shutdown()` has run; it cannot be undone.
    bool public isShutdown;

    /// @notice `totalAssets()` at the moment of shutdown (0 before): the collateral holders share.
    uint256 public shutdownAssets;

    /// @notice The block the vault was shut down in (0 before).
    uint256 public shutdownBlock;

    /// @notice Emitted when `sender` deposits `assets` and `owner` receives `shares` (ERC4626 signature).
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);

    /// @notice Emitted when `owner`'s `shares` are burned and `assets` go to `receiver` (ERC4626 signature).
    event Withdraw(
        address indexed sender,
        address indexed receiver,
        address indexed owner,
        uint256 assets,
        uint256 shares
    );

    /// @notice A deposit too small to be worth at least one share (it would be donated to other holders).
    error ZeroShares();

    /// @notice Shares exist but the vault holds no assets, so no exchange rate can be computed.
    error NoAssetsBackingShares();

    /// @notice Emitted once, when `by` shuts the vault down holding `assets` against `supply` shares.
    event Shutdown(address indexed by, uint256 assets, uint256 supply);

    /// @notice Emitted when `owner` takes all their shares' worth, `assets`, to `receiver` after shutdown.
    event EmergencyWithdraw(address indexed owner, address indexed receiver, uint256 assets, uint256 shares);

    /// @notice The vault is shut down: deposits are closed for good (use `emergencyWithdraw` to leave).
    error VaultShutDown();

    /// @notice `emergencyWithdraw` opens only once the vault is shut down (use `redeem` before that).
    error NotShutDown();

    /// @notice Only the guardian may do this.
    error NotGuardian();

    /// @notice Only governance or the guardian may do this.
    error NotGovernanceOrGuardian();

    /// @notice The caller holds no shares, so there is nothing to withdraw.
    error NoShares();

    /// @notice A role was given the zero address, which could never act.
    error ZeroAddress();

    modifier onlyGuardian() {
        if (msg.sender != guardian) revert NotGuardian();
        _;
    }

    modifier onlyGovernanceOrGuardian() {
        if (msg.sender != governance && msg.sender != guardian) revert NotGovernanceOrGuardian();
        _;
    }

    /// @param asset_ The underlying token (DemoAsset in the demo).
    /// @param governance_ The protocol's governance (the timelock on the dev chain).
    /// @param guardian_ The guardian (the committee account on the dev chain).
    constructor(IERC20 asset_, address governance_, address guardian_) ERC20("Lifeboat Demo Vault share", "lbvUSD") {
        if (governance_ == address(0) || guardian_ == address(0)) revert ZeroAddress();
        _asset = asset_;
        governance = governance_;
        guardian = guardian_;
    }

    /// @notice 6 decimals, the same as the demo's underlying dUSD, so shares start 1:1 with assets.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice The underlying token.
    function asset() external view returns (address) {
        return address(_asset);
    }

    /// @notice Assets backing all shares: simply the vault's balance of the underlying token.
    function totalAssets() public view returns (uint256) {
        return _asset.balanceOf(address(this));
    }

    /// @notice Shares that `assets` are worth right now, rounded down (1:1 while no shares exist).
    /// @param assets Amount of the underlying token.
    function convertToShares(uint256 assets) public view returns (uint256) {
        uint256 supply = totalSupply();
        if (supply == 0) return assets;
        uint256 managed = totalAssets();
        if (managed == 0) revert NoAssetsBackingShares();
        return Math.mulDiv(assets, supply, managed);
    }

    /// @notice Assets that `shares` are worth right now, rounded down (1:1 while no shares exist).
    /// @param shares Amount of vault shares.
    function convertToAssets(uint256 shares) public view returns (uint256) {
        uint256 supply = totalSupply();
        if (supply == 0) return shares;
        return Math.mulDiv(shares, totalAssets(), supply);
    }

    /// @notice Deposit `assets` from the caller and mint the corresponding shares to `receiver`.
    /// @dev Shares are priced before the transfer so the deposit does not dilute its own price.
    /// @param assets Amount of the underlying token to pull (caller must have approved the vault).
    /// @param receiver Account credited with the new shares.
    /// @return shares Shares minted.
    function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
        // Shutdown first: it is final, so it is the more useful of the two reasons to give.
        if (isShutdown) revert VaultShutDown();
        _requireNotPaused();
        shares = convertToShares(assets);
        if (shares == 0) revert ZeroShares();

        _asset.safeTransferFrom(msg.sender, address(this), assets);
        _mint(receiver, shares);

        emit Deposit(msg.sender, receiver, assets, shares);
    }

    /// @notice Burn `owner`'s `shares` and send the assets they are worth to `receiver`.
    /// @dev Reverts `EnforcedPause()` while paused; still works after shutdown (flaw included).
    /// @param shares Shares to burn.
    /// @param receiver Account receiving the underlying tokens.
    /// @param owner Account whose shares are burned.
    /// @return assets Underlying tokens sent.
    function redeem(
        uint256 shares,
        address receiver,
        address owner
    ) external whenNotPaused returns (uint256 assets) {
        // !!! INTENTIONAL VULNERABILITY (demo exploit) !!!
        // A real vault must do: `if (msg.sender != owner) _spendAllowance(owner, msg.sender, shares);`
        // It is left out on purpose so anyone can redeem anyone's shares to themselves.
        // Do not "fix" this: the Lifeboat demo depends on the vault being drainable.

        assets = convertToAssets(shares);

        // Burn before transferring so the share price seen by any callback is already updated.
        _burn(owner, shares);
        _asset.safeTransfer(receiver, assets);

        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }

    /// @notice Stop deposits and redeems (the circuit breaker). Guardian only.
    /// @dev Reverts `EnforcedPause()` if already paused: a caller checks `paused()` first.
    function pause() external onlyGuardian {
        _pause();
    }

    /// @notice Resume deposits and redeems. Guardian or governance.
    /// @dev Reverts `ExpectedPause()` if not paused.
    function unpause() external onlyGovernanceOrGuardian {
        _unpause();
    }

    /// @notice Shut the vault down for good: deposits stop, `emergencyWithdraw` opens. Once only.
    /// @dev Records the collateral and block so anyone can follow how much of it has left since.
    function shutdown() external onlyGovernanceOrGuardian {
        if (isShutdown) revert VaultShutDown();
        uint256 assets = totalAssets();
        isShutdown = true;
        shutdownAssets = assets;
        shutdownBlock = block.number;
        emit Shutdown(msg.sender, assets, totalSupply());
    }

    /// @notice After shutdown, burn ALL the caller's shares and send what they are worth to `receiver`.
    /// @dev Works while paused: a paused, shut-down vault must still let its holders leave. Pays
    ///      `convertToAssets(shares)` at the current totals, rounded down, so the holders' shares of
    ///      the collateral are the same whatever order they leave in (the dust stays for the last).
    /// @param receiver Account receiving the underlying tokens.
    /// @return assets Underlying tokens sent.
    function emergencyWithdraw(address receiver) external returns (uint256 assets) {
        if (!isShutdown) revert NotShutDown();
        uint256 shares = balanceOf(msg.sender);
        if (shares == 0) revert NoShares();
        assets = convertToAssets(shares);

        // Burn before transferring, as in `redeem`.
        _burn(msg.sender, shares);
        _asset.safeTransfer(receiver, assets);

        emit Withdraw(msg.sender, receiver, msg.sender, assets, shares);
        emit EmergencyWithdraw(msg.sender, receiver, assets, shares);
    }
}
