// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title RefusingToken
/// @notice TEST HELPER, not part of the product: an ERC20 whose owner can block accounts, like
///         `BlockingToken`, but refusing the other way old tokens do: a transfer to or from a
///         blocked account *returns false* and moves nothing, instead of reverting. A caller that
///         ignores the return value would believe it paid; SafeERC20 treats it as a failure.
contract RefusingToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    mapping(address account => bool) public blocked;

    /// @param owner Account allowed to mint and to block.
    /// @param decimals_ The token's decimals.
    constructor(address owner, uint8 decimals_) ERC20("Refusing USD", "rUSD") Ownable(owner) {
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

    /// @notice Transfer, or return false (moving nothing) when either side is blocked.
    function transfer(address to, uint256 value) public override returns (bool) {
        if (blocked[msg.sender] || blocked[to]) return false;
        return super.transfer(to, value);
    }

    /// @notice transferFrom, or return false (moving nothing) when either side is blocked.
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (blocked[from] || blocked[to]) return false;
        return super.transferFrom(from, to, value);
    }
}
