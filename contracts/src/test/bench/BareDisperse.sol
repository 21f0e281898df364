// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IRecoveryMintable} from "contracts/src/RecoveryExecutor.sol";

/// @title BareDisperse
/// @notice BENCHMARK HELPER, not part of the product: the peer the gas benchmark compares
///         `RecoveryExecutor.executeBatch` with, a disperse-style loop with no checks at all.
/// @dev No access control, no proof, no bookkeeping, no return-value check beyond Solidity's own
///      ABI decoding: the cheapest way a contract pays a list of recipients one call each. Anyone
///      can call it and move whatever it holds, so it must never hold real funds.
contract BareDisperse {
    /// @notice Transfer `amounts[i]` of `token` from this contract's balance to `recipients[i]`.
    /// @param token The token held here.
    /// @param recipients Receivers, in order.
    /// @param amounts Amount for each receiver (same length; not checked).
    function disperse(IERC20 token, address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i; i < recipients.length; ++i) {
            token.transfer(recipients[i], amounts[i]);
        }
    }

    /// @notice Mint `amounts[i]` of `token` to `recipients[i]`; this contract must hold the token's minter role.
    /// @param token A token whose `mint(address,uint256)` this contract may call.
    /// @param recipients Receivers, in order.
    /// @param amounts Amount for each receiver (same length; not checked).
    function mintAll(IRecoveryMintable token, address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i; i < recipients.length; ++i) {
            token.mint(recipients[i], amounts[i]);
        }
    }
}
