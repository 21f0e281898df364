// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title FeeOnTransferToken
/// @notice TEST HELPER, not part of the product: an ERC20 that keeps a fee, in basis points, on
///         every transfer between two accounts (mints and burns are free). The sender is debited
///         the full amount and the recipient credited the amount minus the fee, which goes to the
///         owner. A plan paying this token delivers less than it commits to: the tests pin down
///         exactly what the RecoveryExecutor does with it.
contract FeeOnTransferToken is ERC20, Ownable {
    /// @notice The fee, in basis points of each transferred amount.
    uint16 public immutable feeBps;

    uint8 private immutable _decimals;

    /// @notice A fee of more than 100% was asked for.
    error FeeTooHigh(uint16 feeBps);

    /// @param owner Account allowed to mint; receives the fees.
    /// @param decimals_ The token's decimals.
    /// @param feeBps_ Fee per transfer in basis points (at most 10000).
    constructor(address owner, uint8 decimals_, uint16 feeBps_) ERC20("Fee USD", "feeUSD") Ownable(owner) {
        if (feeBps_ > 10_000) revert FeeTooHigh(feeBps_);
        _decimals = decimals_;
        feeBps = feeBps_;
    }

    /// @notice Mint tokens (free of fee).
    /// @param to Receiver.
    /// @param amount Amount in base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, owner(), fee);
        super._update(from, to, value - fee);
    }
}
