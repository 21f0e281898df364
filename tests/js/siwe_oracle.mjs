// Test oracle: Sign-In with Ethereum (EIP-4361) by viem (an independent implementation), so the
// Python tests can compare Lifeboat's message text and signature checks with it.
//
// Reads one JSON object on stdin, {"op": ..., ...}, and writes one JSON object on stdout:
//   {"op": "create", "fields": {...}}   -> {"message": createSiweMessage(fields)}
//   {"op": "parse", "message": "..."}   -> {"fields": parseSiweMessage(message)}
//   {"op": "validate", "message": "...", "domain": ..., "nonce": ..., "time": "..."}
//                                       -> {"valid": validateSiweMessage(...)}
//   {"op": "sign", "message": "...", "privateKey": "0x..."}
//                                       -> {"address": ..., "signature": privateKeyToAccount(key).signMessage(...)}
// Field names are viem's (chainId, issuedAt, expirationTime, notBefore, requestId); times are
// ISO 8601 strings both ways (converted to and from Date here).

import { createSiweMessage, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { privateKeyToAccount } from 'viem/accounts';

const TIMES = ['issuedAt', 'expirationTime', 'notBefore'];

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function withDates(fields) {
  const out = { ...fields };
  for (const name of TIMES) {
    if (out[name] !== undefined && out[name] !== null) out[name] = new Date(out[name]);
  }
  return out;
}

function withStrings(fields) {
  const out = { ...fields };
  for (const name of TIMES) {
    if (out[name] instanceof Date) {
      out[name] = Number.isNaN(out[name].getTime()) ? 'Invalid Date' : out[name].toISOString();
    }
  }
  return out;
}

let answer;
switch (input.op) {
  case 'create':
    answer = { message: createSiweMessage(withDates(input.fields)) };
    break;
  case 'parse':
    answer = { fields: withStrings(parseSiweMessage(input.message)) };
    break;
  case 'validate':
    answer = {
      valid: validateSiweMessage({
        message: parseSiweMessage(input.message),
        domain: input.domain,
        nonce: input.nonce,
        time: input.time ? new Date(input.time) : undefined,
      }),
    };
    break;
  case 'sign': {
    const account = privateKeyToAccount(input.privateKey);
    answer = { address: account.address, signature: await account.signMessage({ message: input.message }) };
    break;
  }
  default:
    throw new Error(`unknown op ${JSON.stringify(input.op)}`);
}
process.stdout.write(JSON.stringify(answer));
