"use strict";
// The escape hatch's whole program: an EIP-1193 wallet (window.ethereum) is its only way out.
// Calls are ABI-encoded here from the selectors baked in by Lifeboat; amounts are BigInt, never numbers.
(() => {
  const config = JSON.parse(document.getElementById("hatch-config").textContent);
  const provider = window.ethereum;
  const CHAIN = BigInt(config.chainId);
  const $ = (id) => document.getElementById(id);
  const state = { account: null, position: null, busy: false };

  // --- ABI encoding and decoding (static types and one string) ---
  const MAX_UINT = (1n << 256n) - 1n;
  const word = (hex) => hex.padStart(64, "0");
  function encode(type, value) {
    if (type === "address") {
      if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw new Error(`not an address: ${value}`);
      return word(value.slice(2).toLowerCase());
    }
    if (type === "uint256") {
      if (typeof value !== "bigint" || value < 0n || value > MAX_UINT) throw new Error(`not a uint256: ${value}`);
      return word(value.toString(16));
    }
    throw new Error(`the page cannot encode a ${type}`);
  }
  function calldata(key, args) {
    const fn = config.functions[key];
    if (fn.inputs.length !== args.length) throw new Error(`${fn.signature} takes ${fn.inputs.length} arguments`);
    return fn.selector + fn.inputs.map((type, i) => encode(type, args[i])).join("");
  }
  function decode(type, answer) {
    const hex = typeof answer === "string" && answer.startsWith("0x") ? answer.slice(2) : "";
    const first = hex.slice(0, 64);
    if (first.length !== 64) throw new Error(`the contract answered ${answer || "nothing"}, not a ${type}`);
    if (type === "bool") return BigInt("0x" + first) !== 0n;
    if (type === "address") return "0x" + first.slice(24);
    if (type === "string") {
      const start = Number(BigInt("0x" + first)) * 2;
      const length = Number(BigInt("0x" + hex.slice(start, start + 64)));
      const body = hex.slice(start + 64, start + 64 + length * 2);
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i += 1) bytes[i] = parseInt(body.slice(i * 2, i * 2 + 2), 16);
      return new TextDecoder().decode(bytes);
    }
    return BigInt("0x" + first); // uint8, uint256
  }

  // --- exact amounts ---
  const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  function formatUnits(value, decimals) {
    const base = 10n ** BigInt(decimals);
    const whole = value / base;
    const fraction = value % base;
    let text = group(whole.toString());
    if (decimals > 0 && fraction > 0n) text += "." + fraction.toString().padStart(Number(decimals), "0").replace(/0+$/, "");
    return text;
  }

  // --- the wallet ---
  const request = (method, params) => provider.request(params === undefined ? { method } : { method, params });
  async function read(key, args = []) {
    const fn = config.functions[key];
    const to = config.contracts[fn.contract].address;
    return decode(fn.output, await request("eth_call", [{ to, data: calldata(key, args) }, "latest"]));
  }
  function revertName(error) {
    let data = error && error.data;
    if (data && typeof data === "object") data = data.data || data.originalError?.data;
    if (typeof data !== "string" || data.length < 10) return "";
    return config.errors[data.slice(0, 10).toLowerCase()] || "";
  }
  function explain(error) {
    if (error && error.code === 4001) return "You declined the request in your wallet: nothing was sent.";
    if (error && error.code === 4100) return "Your wallet did not authorize this page: connect again and allow it.";
    const reverted = revertName(error);
    const reason = reverted ? ` The vault refused it with ${reverted}.` : "";
    return `Your wallet answered with an error: ${(error && error.message) || error}.${reason}`;
  }

  function say(text, kind = "info") {
    const box = $("status");
    box.textContent = text;
    box.dataset.kind = kind;
  }
  function setBusy(busy) {
    state.busy = busy;
    for (const id of ["connect", "switch", "refresh", "withdraw"]) $(id).disabled = busy;
  }

  async function onRightChain() {
    const chain = BigInt(await request("eth_chainId"));
    $("wallet-chain").textContent = chain.toString();
    $("facts").hidden = false;
    if (chain === CHAIN) {
      $("switch").hidden = true;
      return true;
    }
    state.position = null;
    $("withdraw").hidden = true;
    $("refresh").hidden = true;
    $("switch").hidden = false;
    for (const id of ["vault-state", "shares", "worth"]) $(id).textContent = "";
    say(
      `Wrong chain: your wallet is on chain ${chain}, but this vault is on chain ${CHAIN}. ` +
        `Press "Switch wallet to chain ${CHAIN}" (or switch in your wallet) to read your position; nothing was read or sent.`,
      "error",
    );
    return false;
  }

  async function refresh() {
    const account = state.account;
    const [paused, shutDown, shares, shareDecimals, symbol, assetDecimals] = await Promise.all([
      read("vault.paused"),
      read("vault.isShutdown"),
      read("vault.balanceOf", [account]),
      read("vault.decimals"),
      read("asset.symbol"),
      read("asset.decimals"),
    ]);
    const assets = shares > 0n ? await read("vault.convertToAssets", [shares]) : 0n;
    state.position = { paused, shutDown, shares, assets };
    const amount = `${formatUnits(assets, assetDecimals)} ${symbol}`;
    $("vault-state").textContent = shutDown
      ? `Shut down${paused ? " and paused" : ""}: emergency withdraw is open`
      : paused
        ? "Paused: withdrawals are stopped"
        : "Open";
    $("shares").textContent = `${formatUnits(shares, shareDecimals)} (${shares} base units)`;
    $("worth").textContent = `${amount} (${assets} base units)`;
    $("refresh").hidden = false;
    const button = $("withdraw");
    button.hidden = true;
    if (shares === 0n) {
      say("This account holds no vault shares: there is nothing to withdraw.");
    } else if (shutDown) {
      button.textContent = `Emergency withdraw ${amount}`;
      button.hidden = false;
      say(`The vault is shut down. Emergency withdraw burns all your shares and sends you ${amount}.`);
    } else if (paused) {
      say(
        "The vault is paused: withdrawals are stopped until the guardian or governance unpauses it, " +
          "or shuts it down (then emergency withdraw opens on this page).",
        "error",
      );
    } else {
      button.textContent = `Withdraw ${amount}`;
      button.hidden = false;
      say(`You can withdraw ${amount}: redeem burns all your shares and sends you what they are worth.`);
    }
  }

  async function waitForReceipt(hash) {
    for (;;) {
      const receipt = await request("eth_getTransactionReceipt", [hash]);
      if (receipt) return receipt;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function withdraw() {
    if (!(await onRightChain()) || !state.position) return;
    const { shutDown, shares } = state.position;
    const account = state.account;
    const data = shutDown
      ? calldata("vault.emergencyWithdraw", [account])
      : calldata("vault.redeem", [shares, account, account]);
    say("Confirm the transaction in your wallet.");
    const hash = await request("eth_sendTransaction", [{ from: account, to: config.contracts.vault.address, data }]);
    $("tx-hash").textContent = hash;
    $("tx").hidden = false;
    say(`Sent as ${hash}: waiting for it to be mined.`);
    const receipt = await waitForReceipt(hash);
    if (receipt.status === "0x1") {
      await refresh();
      say(`Done: withdrawn in block ${BigInt(receipt.blockNumber)}, transaction ${hash}.`, "ok");
    } else {
      await refresh();
      say(`The transaction ${hash} failed on chain (it reverted); your shares are unchanged.`, "error");
    }
  }

  function guarded(action) {
    return async () => {
      if (state.busy) return;
      setBusy(true);
      try {
        await action();
      } catch (error) {
        say(explain(error), "error");
      } finally {
        setBusy(false);
      }
    };
  }

  async function connect() {
    const accounts = await request("eth_requestAccounts");
    if (!accounts || accounts.length === 0) {
      say("Your wallet shared no account: unlock it and connect again.", "error");
      return;
    }
    state.account = accounts[0];
    $("account").textContent = state.account;
    $("connect").textContent = "Connected";
    if (await onRightChain()) await refresh();
  }

  async function switchChain() {
    try {
      await request("wallet_switchEthereumChain", [{ chainId: "0x" + CHAIN.toString(16) }]);
    } catch (error) {
      if (error && error.code === 4902) {
        say(`Your wallet does not know chain ${CHAIN}: add that network in your wallet, then press Switch again.`, "error");
        return;
      }
      throw error;
    }
    if (await onRightChain()) await refresh();
  }

  if (!provider || typeof provider.request !== "function") {
    say(
      "No Ethereum wallet was found in this browser. Install or unlock a wallet extension (and, for a file on " +
        "your disk, allow it to access file URLs), then reload this page.",
      "error",
    );
    $("connect").disabled = true;
    return;
  }
  $("connect").addEventListener("click", guarded(connect));
  $("switch").addEventListener("click", guarded(switchChain));
  $("refresh").addEventListener("click", guarded(async () => (await onRightChain()) && refresh()));
  $("withdraw").addEventListener("click", guarded(withdraw));
  if (typeof provider.on === "function") {
    provider.on("chainChanged", guarded(async () => state.account && (await onRightChain()) && refresh()));
    provider.on("accountsChanged", (accounts) => {
      if (!accounts || accounts.length === 0) return;
      state.account = accounts[0];
      $("account").textContent = state.account;
      guarded(async () => (await onRightChain()) && refresh())();
    });
  }
})();
