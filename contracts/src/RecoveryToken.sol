// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title RecoveryToken
/// @notice Migrated token used by restore-mode plans: holders of a compromised token are made whole
///         by minting balances on this fresh token.
/// @dev Nobody can mint at deployment; the admin (normally the governance timelock) grants
///      MINTER_ROLE to the RecoveryExecutor, so every unit in circulation traces back to a batch
///      that governance approved.
contract RecoveryToken is ERC20, AccessControl {
    /// @notice Role allowed to mint (the RecoveryExecutor).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice `mintBatch` got a different number of receivers and amounts.
    error BatchLengthMismatch(uint256 receivers, uint256 amounts);

    /// @dev Kept so the migrated token can match the original token's precision.
    uint8 private immutable _decimals;

    /// @param name_ ERC20 name.
    /// @param symbol_ ERC20 symbol.
    /// @param decimals_ Decimals, normally those of the token being migrated.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and therefore decides who may mint.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address admin) ERC20(name_, symbol_) {
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Create `amount` new tokens for `to`.
    /// @param to Receiver of the new tokens.
    /// @param amount Amount in the token's smallest unit.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Create tokens for many receivers in one call: one role check for the whole batch.
    /// @dev What a restore-mode batch of the RecoveryExecutor calls; each receiver still gets its own
    ///      `Transfer` from the zero address, exactly as `mint` would emit it.
    /// @param to Receivers of the new tokens.
    /// @param amounts Amount for each receiver, same order and length as `to`.
    function mintBatch(address[] calldata to, uint256[] calldata amounts) external onlyRole(MINTER_ROLE) {
        if (to.length != amounts.length) revert BatchLengthMismatch(to.length, amounts.length);
        for (uint256 i; i < to.length; ++i) {
            _mint(to[i], amounts[i]);
        }
    }

    /// @notice Token precision chosen at deployment.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
