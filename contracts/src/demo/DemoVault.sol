// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

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
contract DemoVault is ERC20 {
    using SafeERC20 for IERC20;

    IERC20 private immutable _asset;

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

    /// @param asset_ The underlying token (DemoAsset in the demo).
    constructor(IERC20 asset_) ERC20("Lifeboat Demo Vault share", "lbvUSD") {
        _asset = asset_;
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
        shares = convertToShares(assets);
        if (shares == 0) revert ZeroShares();

        _asset.safeTransferFrom(msg.sender, address(this), assets);
        _mint(receiver, shares);

        emit Deposit(msg.sender, receiver, assets, shares);
    }

    /// @notice Burn `owner`'s `shares` and send the assets they are worth to `receiver`.
    /// @param shares Shares to burn.
    /// @param receiver Account receiving the underlying tokens.
    /// @param owner Account whose shares are burned.
    /// @return assets Underlying tokens sent.
    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets) {
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
}
