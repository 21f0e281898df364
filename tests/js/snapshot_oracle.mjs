// Test oracle: Snapshot's own client, @snapshot-labs/snapshot.js (pinned in package.json), so the Python
// tests can compare Lifeboat's Snapshot messages with what that package signs.
//
// Reads one JSON object on stdin and writes one on stdout:
//   {"op": "capture", "proposal": {...message...}, "vote": {...message...}}
//     -> {"proposal": {domain, types, message}, "vote": {domain, types, message}}: the typed data the
//        client's proposal() and vote() hand to the wallet for these messages (a recording signer that
//        stops before anything is posted).
//   {"op": "hash", "data": {domain, types, message}, "privateKey": "0x..." (optional)}
//     -> {"digest": utils.getHash(data), "signature": (ethers v5 _signTypedData, when a key was given)}
//   {"op": "verify", "address": "0x...", "sig": "0x...", "data": {...}}
//     -> {"valid": utils.verify(...)} (an EOA's ECDSA signature needs no network)

import snapshot from '@snapshot-labs/snapshot.js';
import { Wallet } from '@ethersproject/wallet';

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

class Stop extends Error {}

async function capture(method, message) {
  let seen = null;
  const signer = {
    _signTypedData: async (domain, types, value) => {
      seen = { domain, types, message: value };
      throw new Stop('recorded');
    },
  };
  const client = new snapshot.Client712('http://127.0.0.1:9/');
  try {
    await client[method](signer, message.from, { ...message });
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  return seen;
}

let answer;
if (input.op === 'capture') {
  answer = {
    proposal: await capture('proposal', input.proposal),
    vote: await capture('vote', { ...input.vote, type: 'single-choice' }),
  };
} else if (input.op === 'hash') {
  answer = { digest: snapshot.utils.getHash(input.data) };
  if (input.privateKey) {
    const { domain, types, message } = input.data;
    answer.signature = await new Wallet(input.privateKey)._signTypedData(domain, types, message);
  }
} else if (input.op === 'verify') {
  answer = { valid: await snapshot.utils.verify(input.address, input.sig, input.data, '31337') };
} else {
  throw new Error(`unknown op ${input.op}`);
}
process.stdout.write(JSON.stringify(answer));
