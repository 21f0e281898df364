// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BulkTransferToken
/// @notice BENCHMARK HELPER, not part of the product: emits huge numbers of Transfer logs cheaply so
///         indexing benchmarks can build realistic log volumes on a local chain.
/// @dev Every transfer goes through ERC20's normal `_transfer`, so the logs are byte-for-byte what a
///      real token would emit; only the fan-out per transaction is unusual.
contract BulkTransferToken is ERC20 {
    /// @param supply Entire supply, minted to the deployer.
    constructor(uint256 supply) ERC20("Bulk", "BULK") {
        _mint(msg.sender, supply);
    }

    /// @notice Send `amountEach` from the caller to every address in `recipients` (one Transfer log each).
    /// @param recipients Receivers; duplicates are allowed and simply receive several transfers.
    /// @param amountEach Amount sent to each receiver.
    function spray(address[] calldata recipients, uint256 amountEach) external {
        for (uint256 i; i < recipients.length; ++i) {
            _transfer(msg.sender, recipients[i], amountEach);
        }
    }

    /// @notice Send `amountEach` from the caller to the `count` consecutive addresses starting at
    ///         `firstRecipient`, so a benchmark can generate many distinct holders with tiny calldata.
    /// @param firstRecipient First receiving address, as an integer (must not be 0: ERC20 rejects address(0)).
    /// @param count Number of consecutive receivers.
    /// @param amountEach Amount sent to each receiver.
    function sprayRange(uint160 firstRecipient, uint256 count, uint256 amountEach) external {
        for (uint256 i; i < count; ++i) {
            // Checked arithmetic: a range running past the top of the address space reverts.
            _transfer(msg.sender, address(firstRecipient + uint160(i)), amountEach);
        }
    }
}
