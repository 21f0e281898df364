// Test oracle: EIP-712 by ethers (an independent implementation), so the Python tests can
// compare Lifeboat's typed-data digests and signatures with it.
//
// Reads one JSON object on stdin:
//   {"domain": {...}, "types": {...without EIP712Domain...}, "primaryType": "...", "message": {...},
//    "privateKey": "0x..." (optional)}
// and writes {"digest": "0x...", "signature": "0x..." (when a key was given)} on stdout.
// Integers may be given as decimal strings (uint256 does not fit a JSON number).

import { TypedDataEncoder, Wallet } from 'ethers';

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const types = { ...input.types };
delete types.EIP712Domain; // ethers derives the domain type from the domain's fields
const encoder = TypedDataEncoder.from(types);
if (input.primaryType && encoder.primaryType !== input.primaryType) {
  throw new Error(`primary type is ${encoder.primaryType}, expected ${input.primaryType}`);
}
const answer = { digest: TypedDataEncoder.hash(input.domain, types, input.message) };
if (input.privateKey) {
  answer.signature = await new Wallet(input.privateKey).signTypedData(input.domain, types, input.message);
}
process.stdout.write(JSON.stringify(answer));
