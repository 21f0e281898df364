// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title LifeboatToken
/// @notice Governance token of the demo protocol. Holders delegate and vote on recovery plans.
/// @dev Uses the default ERC-6372 clock (block numbers), which is what GovernorVotes reads.
///      Remember that ERC20Votes only counts delegated balances: holders must `delegate` (to
///      themselves or others) before their tokens carry voting power.
contract LifeboatToken is ERC20, ERC20Permit, ERC20Votes {
    /// @param holder Receives the entire initial supply.
    /// @param supply Initial supply in wei (18 decimals).
    constructor(address holder, uint256 supply)
        ERC20("Lifeboat Demo Governance", "LBG")
        ERC20Permit("Lifeboat Demo Governance")
    {
        _mint(holder, supply);
    }

    // Both ERC20 and ERC20Votes define _update; ERC20Votes' version moves voting checkpoints too.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @notice Permit nonce of `owner` (shared by ERC20Permit and vote delegation by signature).
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
