// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title ERC1271Voter
/// @notice TEST HELPER: a contract wallet (as a Safe is) that holds votes delegated to itself and
///         accepts a digest its owner's key signed, so an OpenZeppelin v5 governor's castVoteBySig
///         takes its ballots through EIP-1271 (SignatureChecker asks the contract, not ecrecover).
contract ERC1271Voter is IERC1271 {
    address public immutable owner;

    /// @param owner_ The key whose signatures this wallet accepts.
    /// @param token The votes token; the wallet delegates its own balance to itself.
    constructor(address owner_, IVotes token) {
        owner = owner_;
        token.delegate(address(this));
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        if (err == ECDSA.RecoverError.NoError && signer == owner) {
            return IERC1271.isValidSignature.selector;
        }
        return bytes4(0xffffffff);
    }
}
