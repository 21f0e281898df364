// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice The Chainlink aggregator read interface, declared here so the demo needs no Chainlink package.
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(
        uint80 _roundId
    )
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}

/// @title DemoPriceFeed
/// @notice An owner-controlled price feed that looks like a Chainlink aggregator to its readers.
/// @dev The demo uses it to show monitoring of oracle anomalies: `setAnswer` publishes a fresh price,
///      `setRoundData` publishes one with an arbitrary `updatedAt` to fake a stale or wrong feed.
///      Every round is kept so historical `getRoundData` lookups behave like the real thing.
contract DemoPriceFeed is AggregatorV3Interface, Ownable {
    /// @dev Full-width timestamps: gas does not matter for a demo feed, and `setRoundData` must be able
    ///      to store whatever value a test throws at it without truncation.
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    /// @dev Arbitrary but fixed; readers only use it to tell implementations apart.
    uint256 private constant VERSION = 1;

    uint8 private immutable _decimals;
    string private _description;

    uint80 private _latestRoundId;
    mapping(uint80 roundId => Round) private _rounds;

    /// @notice Same event signature as Chainlink aggregators, so existing log decoders understand it.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @notice The requested round does not exist (same error name Chainlink's reverts use).
    error NoDataPresent();

    /// @param owner Account allowed to publish answers.
    /// @param decimals_ Decimals of the answer (8 for USD pairs on Chainlink).
    /// @param description_ Human-readable pair, e.g. "dUSD / USD".
    /// @param initialAnswer Answer of round 1, published at deployment time.
    constructor(
        address owner,
        uint8 decimals_,
        string memory description_,
        int256 initialAnswer
    ) Ownable(owner) {
        _decimals = decimals_;
        _description = description_;
        _appendRound(initialAnswer, block.timestamp, block.timestamp);
    }

    /// @notice Publish a new answer timestamped now.
    /// @param answer The new price.
    function setAnswer(int256 answer) external onlyOwner {
        _appendRound(answer, block.timestamp, block.timestamp);
    }

    /// @notice Publish a new answer with an explicit `updatedAt`, e.g. in the past to simulate a stale feed.
    /// @dev startedAt is set to the same value so the round looks internally consistent.
    /// @param answer The new price.
    /// @param updatedAt Timestamp the round claims to have been updated at.
    function setRoundData(int256 answer, uint256 updatedAt) external onlyOwner {
        _appendRound(answer, updatedAt, updatedAt);
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return VERSION;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(
        uint80 _roundId
    )
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (_roundId == 0 || _roundId > _latestRoundId) revert NoDataPresent();
        return _roundData(_roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _roundData(_latestRoundId);
    }

    function _appendRound(int256 answer, uint256 startedAt, uint256 updatedAt) private {
        uint80 roundId = _latestRoundId + 1;
        _latestRoundId = roundId;
        _rounds[roundId] = Round({answer: answer, startedAt: startedAt, updatedAt: updatedAt});
        emit AnswerUpdated(answer, roundId, updatedAt);
    }

    function _roundData(
        uint80 roundId
    ) private view returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound) {
        Round storage round = _rounds[roundId];
        // Every round is answered in the round it was created, as on a healthy Chainlink feed.
        return (roundId, round.answer, round.startedAt, round.updatedAt, roundId);
    }
}
