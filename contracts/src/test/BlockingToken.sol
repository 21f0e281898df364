// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title BlockingToken
/// @notice TEST HELPER, not part of the product: an ERC20 whose owner can block accounts, as
///         USDC and USDT blocklists do. A transfer to or from a blocked account reverts with
///         `AccountBlocked`, so a recovery plan paying such an account fails on that batch: the
///         rehearsal must catch it before the vote.
contract BlockingToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    mapping(address account => bool) public blocked;

    /// @notice A transfer touched a blocked account.
    error AccountBlocked(address account);

    /// @param owner Account allowed to mint and to block.
    /// @param decimals_ The token's decimals (a plan's payout token must have its asset's decimals).
    constructor(address owner, uint8 decimals_) ERC20("Blocking USD", "bUSD") Ownable(owner) {
        _decimals = decimals_;
    }

    /// @notice Mint tokens.
    /// @param to Receiver.
    /// @param amount Amount in base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Block or unblock an account.
    /// @param account The account.
    /// @param isBlocked True to block it.
    function setBlocked(address account, bool isBlocked) external onlyOwner {
        blocked[account] = isBlocked;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (blocked[from]) revert AccountBlocked(from);
        if (blocked[to]) revert AccountBlocked(to);
        super._update(from, to, value);
    }
}
