// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title NoReturnToken
/// @notice TEST HELPER, not part of the product: a USDT-style token whose `transfer`,
///         `transferFrom` and `approve` return nothing. Written without OpenZeppelin's ERC20 on
///         purpose, so its ABI really has no return values: a caller that decodes a `bool` from
///         these calls reverts, and only SafeERC20-style callers (which accept empty return data
///         from a contract) can pay it. The RecoveryExecutor must pay it correctly.
/// @dev Failures revert with plain `require` messages, as the old tokens that behave this way do.
contract NoReturnToken {
    string public name = "No Return USD";
    string public symbol = "nrUSD";
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public immutable owner;

    mapping(address account => uint256) public balanceOf;
    mapping(address account => mapping(address spender => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @param owner_ Account allowed to mint.
    /// @param decimals_ The token's decimals.
    constructor(address owner_, uint8 decimals_) {
        owner = owner_;
        decimals = decimals_;
    }

    /// @notice Mint tokens (owner only).
    /// @param to Receiver.
    /// @param amount Amount in base units.
    function mint(address to, uint256 amount) external {
        require(msg.sender == owner, "NoReturnToken: not owner");
        require(to != address(0), "NoReturnToken: mint to zero");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Move tokens from the caller; returns nothing (USDT style).
    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    /// @notice Move tokens on an allowance; returns nothing (USDT style).
    function transferFrom(address from, address to, uint256 amount) external {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "NoReturnToken: allowance too low");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
    }

    /// @notice Set an allowance; returns nothing (USDT style).
    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    function _move(address from, address to, uint256 amount) private {
        require(to != address(0), "NoReturnToken: transfer to zero");
        uint256 balance = balanceOf[from];
        require(balance >= amount, "NoReturnToken: balance too low");
        balanceOf[from] = balance - amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
