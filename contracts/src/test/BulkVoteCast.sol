// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";

/// @title BulkVoteCast
/// @notice BENCHMARK HELPER, not part of the product: emits IGovernor's own VoteCast and
///         VoteCastWithParams events in bulk, so the indexing benchmark can build 10,000 votes on a
///         local chain in a few transactions.
/// @dev The events are IGovernor's (emitted by qualified name), so topics and data are byte for byte
///      what an OpenZeppelin Governor logs; only the number per transaction and the voters are unusual.
contract BulkVoteCast {
    /// @notice Emit `count` votes on `proposalId` by the consecutive voters from `firstVoter`.
    /// @param proposalId The proposal every vote is for.
    /// @param firstVoter First voter, as an integer; voter i is firstVoter + i.
    /// @param count Votes to emit.
    /// @param reason Reason of every vote.
    /// @param paramsEvery Every paramsEvery-th vote is a VoteCastWithParams carrying `params` (0: none).
    /// @param params The params bytes of those votes.
    function emitVotes(
        uint256 proposalId,
        uint160 firstVoter,
        uint256 count,
        string calldata reason,
        uint256 paramsEvery,
        bytes calldata params
    ) external {
        for (uint256 i; i < count; ++i) {
            address voter = address(firstVoter + uint160(i));
            // Support cycles Against, For, Abstain; the weight differs per voter.
            uint8 support = uint8(i % 3);
            uint256 weight = 10 ** 18 + i * 7919;
            if (paramsEvery != 0 && i % paramsEvery == 0) {
                emit IGovernor.VoteCastWithParams(voter, proposalId, support, weight, reason, params);
            } else {
                emit IGovernor.VoteCast(voter, proposalId, support, weight, reason);
            }
        }
    }
}
