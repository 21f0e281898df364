// Lifeboat's page-side wallet and proof checks, bundled by web/assets/build.mjs into
// web/static/web/wallet.js and exposed as window.Lifeboat.
//
// Wallet calls go through the page's EIP-1193 provider (window.ethereum). verifyProof checks an
// OpenZeppelin StandardMerkleTree proof in the page itself: the holder trusts their own browser's
// keccak, not the server's word that the proof is good.
import { concat, encodeAbiParameters, encodeFunctionData, hexToBytes, isHex, keccak256, parseAbiItem } from "viem";

/** A wallet or input problem, with a message the page can show as it is. */
export class LifeboatError extends Error {
  constructor(message, { code, cause } = {}) {
    super(message, { cause });
    this.name = "LifeboatError";
    this.code = code;
  }
}

function provider() {
  const ethereum = globalThis.ethereum;
  if (!ethereum || typeof ethereum.request !== "function") {
    throw new LifeboatError("No Ethereum wallet found in this browser: install or unlock one, then reload the page.", {
      code: "no_wallet",
    });
  }
  return ethereum;
}

async function request(method, params) {
  try {
    return await provider().request(params === undefined ? { method } : { method, params });
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    // EIP-1193: 4001 is the user's refusal; anything else is the wallet's or the node's error.
    if (error && error.code === 4001) {
      throw new LifeboatError("The request was rejected in the wallet.", { code: "rejected", cause: error });
    }
    const detail = (error && error.message) || String(error);
    throw new LifeboatError(`The wallet refused ${method}: ${detail}`, { code: "wallet_error", cause: error });
  }
}

/** Ask the wallet for its accounts; returns { account, chainId } (chainId a number). */
export async function connect() {
  const accounts = await request("eth_requestAccounts");
  if (!Array.isArray(accounts) || accounts.length === 0) {
    throw new LifeboatError("The wallet shared no account.", { code: "no_account" });
  }
  const chainId = Number.parseInt(await request("eth_chainId"), 16);
  return { account: accounts[0], chainId };
}

/** The wallet's current chain id, as a number. */
export async function chainId() {
  return Number.parseInt(await request("eth_chainId"), 16);
}

/** EIP-191 personal_sign of a UTF-8 message by ``account``; returns the 0x signature. */
export async function personalSign(account, message) {
  const hex = `0x${Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, "0")).join("")}`;
  return request("personal_sign", [hex, account]);
}

/** EIP-712 eth_signTypedData_v4 of ``typedData`` ({ types, domain, primaryType, message }) by ``account``. */
export async function signTypedData(account, typedData) {
  const json = JSON.stringify(typedData, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
  return request("eth_signTypedData_v4", [account, json]);
}

/** Send a transaction ({ from, to, data, value? }) from the wallet; returns its hash. */
export async function sendTransaction(tx) {
  const body = { ...tx };
  if (typeof body.value === "bigint" || typeof body.value === "number") body.value = `0x${body.value.toString(16)}`;
  return request("eth_sendTransaction", [body]);
}

function isBytes32(value) {
  return typeof value === "string" && isHex(value, { strict: true }) && value.length === 66;
}

function normalise(type, element, position) {
  if (/^u?int\d*$/.test(type)) {
    // Amounts arrive as decimal strings (never floats): BigInt keeps every digit.
    if (typeof element === "number" && !Number.isSafeInteger(element)) {
      throw new LifeboatError(`leaf value [${position}] (${type}) is not an exact integer: pass it as a string`);
    }
    try {
      return BigInt(element);
    } catch {
      throw new LifeboatError(`leaf value [${position}] (${type}) is not an integer: ${String(element)}`);
    }
  }
  return element;
}

/** The StandardMerkleTree leaf hash: keccak256(keccak256(abi.encode(leafEncoding, value))). */
export function leafHash(leafEncoding, value) {
  if (!Array.isArray(leafEncoding) || !Array.isArray(value) || leafEncoding.length !== value.length) {
    throw new LifeboatError(
      `the leaf has ${Array.isArray(value) ? value.length : "no"} values for ${Array.isArray(leafEncoding) ? leafEncoding.length : "no"} types`,
    );
  }
  let encoded;
  try {
    encoded = encodeAbiParameters(
      leafEncoding.map((type) => ({ type })),
      value.map((element, position) => normalise(leafEncoding[position], element, position)),
    );
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError(`the leaf does not encode as ${leafEncoding.join(", ")}: ${error.shortMessage || error.message}`);
  }
  return keccak256(keccak256(encoded));
}

function hashPair(a, b) {
  // OpenZeppelin's commutative hash: the smaller node (as bytes) first.
  const [x, y] = [hexToBytes(a), hexToBytes(b)];
  for (let i = 0; i < 32; i += 1) {
    if (x[i] !== y[i]) return keccak256(x[i] < y[i] ? concat([a, b]) : concat([b, a]));
  }
  return keccak256(concat([a, b]));
}

/**
 * Whether ``proof`` proves ``value`` (encoded as ``leafEncoding``) under ``root``, computed in the page.
 *
 * Malformed input (a root or node that is not 32 bytes of hex, a value that does not encode)
 * throws a LifeboatError; a well-formed proof that does not lead to the root returns false.
 */
export function verifyProof(root, leafEncoding, value, proof) {
  if (!isBytes32(root)) throw new LifeboatError(`the root is not 32 bytes of hex: ${String(root)}`);
  if (!Array.isArray(proof)) throw new LifeboatError("the proof is not a list of hashes");
  proof.forEach((node, position) => {
    if (!isBytes32(node)) throw new LifeboatError(`proof node [${position}] is not 32 bytes of hex: ${String(node)}`);
  });
  const computed = proof.reduce((node, sibling) => hashPair(node, sibling), leafHash(leafEncoding, value));
  return computed.toLowerCase() === root.toLowerCase();
}

/**
 * Calldata for one function call: ``encodeCall("function castVote(uint256,uint8)", [id, 1n])``.
 * Integers go in as BigInt or decimal strings (never Number: amounts exceed 2**53).
 */
export function encodeCall(signature, args) {
  const item = parseAbiItem(signature.startsWith("function ") ? signature : `function ${signature}`);
  return encodeFunctionData({ abi: [item], functionName: item.name, args });
}

/** Wait until the wallet's node has the receipt of ``hash``; returns it (status "0x1" = success). */
export async function waitForReceipt(hash, { timeoutMs = 60000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const receipt = await request("eth_getTransactionReceipt", [hash]);
    if (receipt) return receipt;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new LifeboatError(`No receipt for ${hash} after ${Math.round(timeoutMs / 1000)} s: check the wallet.`, {
    code: "receipt_timeout",
  });
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

/**
 * POST JSON to the site's own API with Django's CSRF token (the ``csrftoken`` cookie) and the
 * session; returns the parsed answer, or throws a LifeboatError carrying the API's own message.
 */
export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
    body: JSON.stringify(body, (_key, value) => (typeof value === "bigint" ? value.toString() : value)),
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const message = (answer && answer.error && answer.error.message) || `${response.status} ${response.statusText}`;
    throw new LifeboatError(message, { code: (answer && answer.error && answer.error.code) || "http_error" });
  }
  return answer;
}

/** GET JSON from the site's own API; throws a LifeboatError with the API's message on a 4xx/5xx. */
export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (answer && answer.error && answer.error.message) || `${response.status} ${response.statusText}`;
    throw new LifeboatError(message, { code: (answer && answer.error && answer.error.code) || "http_error" });
  }
  return answer;
}

const Lifeboat = Object.freeze({
  LifeboatError,
  connect,
  chainId,
  personalSign,
  signTypedData,
  sendTransaction,
  leafHash,
  verifyProof,
  encodeCall,
  waitForReceipt,
  postJSON,
  getJSON,
});

globalThis.Lifeboat = Lifeboat;
export default Lifeboat;
