// Signs and posts a Vote through snapshot.js's own code path (Client712.vote with an ethers v5
// Wallet), so the tests can check that the local hub accepts what Snapshot's client sends.
//
// Reads one JSON object on stdin:
//   {"sequencerUrl": "http://127.0.0.1:N/", "privateKey": "0x...", "space": "...", "proposal": "0x...",
//    "choice": 1, "reason": "", "app": "lifeboat"}
// and writes {"ok": true, "result": {...}} (the sequencer's answer) or {"ok": false, "error": {...}} on stdout.

import snapshot from '@snapshot-labs/snapshot.js';
import { Wallet } from '@ethersproject/wallet';

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const wallet = new Wallet(input.privateKey);
const client = new snapshot.Client712(input.sequencerUrl);
try {
  const result = await client.vote(wallet, wallet.address, {
    space: input.space,
    proposal: input.proposal,
    type: 'single-choice',
    choice: input.choice,
    reason: input.reason ?? '',
    app: input.app ?? ''
  });
  process.stdout.write(JSON.stringify({ ok: true, result }));
} catch (error) {
  const detail = error && typeof error === 'object' && !(error instanceof Error) ? error : { message: String(error) };
  process.stdout.write(JSON.stringify({ ok: false, error: detail }));
}
