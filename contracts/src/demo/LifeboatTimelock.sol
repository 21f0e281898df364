// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title LifeboatTimelock
/// @notice The demo protocol's timelock. It adds nothing to OpenZeppelin's TimelockController;
///         the contract exists so the build emits a deployable artifact for it.
contract LifeboatTimelock is TimelockController {
    /// @param minDelay Minimum delay (seconds) between queueing and executing an operation.
    /// @param proposers Accounts granted the proposer and canceller roles (normally the governor).
    /// @param executors Accounts granted the executor role (address(0) lets anyone execute).
    /// @param admin Optional extra admin for initial setup; address(0) makes the timelock self-administered.
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {}
}
