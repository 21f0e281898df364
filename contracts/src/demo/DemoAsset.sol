// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title DemoAsset
/// @notice A USD-like stablecoin for the demo: 6 decimals like USDC, freely mintable by its owner
///         so the demo can fund depositors without a faucet.
contract DemoAsset is ERC20, Ownable {
    /// @param owner Account allowed to mint.
    constructor(address owner) ERC20("Demo USD", "dUSD") Ownable(owner) {}

    /// @notice Mint demo dollars.
    /// @param to Receiver.
    /// @param amount Amount in micro-dollars (6 decimals).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice 6 decimals, matching the stablecoins the demo imitates.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
