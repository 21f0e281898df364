// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title BareTransferLoop
/// @notice TEST HELPER, not part of the product: the cheapest way to pay a list of recipients
///         from this contract's balance (a plain `transfer` loop, no proofs, no bookkeeping). The
///         gas test compares RecoveryExecutor's batch cost per recipient against it.
contract BareTransferLoop {
    /// @notice Pay `amounts[i]` of `token` to `recipients[i]`; reverts on the first refused transfer.
    function payAll(IERC20 token, address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i; i < recipients.length; ++i) {
            require(token.transfer(recipients[i], amounts[i]), "BareTransferLoop: transfer refused");
        }
    }
}
