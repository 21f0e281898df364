// Holders' pages: Sign-In with Ethereum in the header, the in-page Merkle proof check and the pull claim.
// Plain ES2020, no build step. window.Lifeboat comes from wallet.js (loaded here on first use if the page did not).
"use strict";

(() => {
  const box = document.getElementById("holder-signin");

  function loadWallet() {
    if (window.Lifeboat) return Promise.resolve(window.Lifeboat);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = box.dataset.walletSrc;
      script.onload = () => resolve(window.Lifeboat);
      script.onerror = () => reject(new Error("The wallet script could not be loaded: reload the page."));
      document.head.appendChild(script);
    });
  }

  function say(element, text) {
    if (element) element.textContent = text;
  }

  function reason(error) {
    return (error && error.message) || String(error);
  }

  // --- sign in / sign out (header) ---

  async function signIn(button) {
    const status = document.getElementById("siwe-status");
    const alert = document.getElementById("siwe-error");
    say(alert, "");
    button.disabled = true;
    try {
      const Lifeboat = await loadWallet();
      say(status, "Asking your wallet for its account…");
      const { account, chainId } = await Lifeboat.connect();
      const fields = await Lifeboat.getJSON(`${box.dataset.nonceUrl}?address=${encodeURIComponent(account)}`);
      if (Number(fields.chain_id) !== Number(chainId)) {
        throw new Error(
          `Your wallet is on chain ${chainId}, this site on chain ${fields.chain_id}: switch the wallet's network, then sign in again.`,
        );
      }
      say(status, "Sign the message in your wallet…");
      const signature = await Lifeboat.personalSign(fields.address, fields.message);
      say(status, "Checking the signature…");
      await Lifeboat.postJSON(box.dataset.loginUrl, { message: fields.message, signature });
      say(status, "Signed in. Reloading…");
      window.location.reload();
    } catch (error) {
      say(status, "");
      say(alert, `Sign-in failed: ${reason(error)}`);
      button.disabled = false;
    }
  }

  // --- the in-page proof check (account page) ---

  function proofOf(button) {
    const list = document.getElementById(button.dataset.proofList);
    return list ? Array.from(list.querySelectorAll("code"), (node) => node.textContent.trim()) : [];
  }

  async function checkProof(button) {
    const out = document.getElementById(button.dataset.result);
    say(out, "Checking…");
    try {
      const Lifeboat = await loadWallet();
      const valid = Lifeboat.verifyProof(
        button.dataset.root,
        ["uint256", "address", "uint256"],
        [button.dataset.index, button.dataset.account, button.dataset.amount],
        proofOf(button),
      );
      out.className = valid ? "proof-result ok" : "proof-result bad";
      say(
        out,
        valid
          ? "valid: this allocation is in the published root"
          : "INVALID: this allocation and proof do not lead to the published root",
      );
    } catch (error) {
      out.className = "proof-result bad";
      say(out, `INVALID: ${reason(error)}`);
    }
  }

  // --- the pull claim (account page) ---

  // RecoveryExecutor.claim's refusals (contracts/src/RecoveryExecutor.sol), by 4-byte error selector.
  const CLAIM_REFUSALS = {
    "0x6bd4745f": "this allocation has already been claimed (AlreadyClaimed). Reload the page.",
    "0x3823338d": "the claim deadline has passed (ClaimDeadlinePassed).",
    "0xf1a9a46e": "the plan is not approved on chain, or no longer (PlanNotActive).",
    "0x70006b62": "a later version of the plan replaced this one (PlanSuperseded).",
    "0x4f8f5aaa": "this plan is not paid by claims (WrongDelivery).",
    "0x832d3d6e": "the proof does not match the plan's root (InvalidProof).",
    "0xc471e1b0": "the plan's budget is spent (OverBudget).",
    "0xd93c0665": "the RecoveryExecutor is paused (EnforcedPause): try again once it is unpaused.",
  };

  function claimRefusal(error) {
    const text = reason(error);
    for (const [selector, words] of Object.entries(CLAIM_REFUSALS)) {
      if (text.includes(selector)) return `the contract refuses it: ${words}`;
    }
    return text;
  }

  async function claim(button) {
    const out = document.getElementById(button.dataset.result);
    const alert = document.getElementById(button.dataset.alert);
    say(alert, "");
    button.disabled = true;
    try {
      const Lifeboat = await loadWallet();
      say(out, "Asking your wallet…");
      const { account, chainId } = await Lifeboat.connect();
      if (Number(chainId) !== Number(button.dataset.chainId)) {
        throw new Error(`Your wallet is on chain ${chainId}; the claim is on chain ${button.dataset.chainId}: switch networks.`);
      }
      const data = Lifeboat.encodeCall("function claim(uint256,uint256,address,uint256,bytes32[])", [
        button.dataset.planId,
        button.dataset.index,
        button.dataset.account,
        button.dataset.amount,
        proofOf(button),
      ]);
      say(out, "Confirm the transaction in your wallet…");
      const hash = await Lifeboat.sendTransaction({ from: account, to: button.dataset.executor, data });
      say(out, `Sent ${hash}; waiting for it to be mined…`);
      const receipt = await Lifeboat.waitForReceipt(hash);
      const ok = receipt.status === "0x1";
      out.className = ok ? "claim-result ok" : "claim-result bad";
      say(
        out,
        ok
          ? `Claimed: transaction ${hash} succeeded in block ${Number.parseInt(receipt.blockNumber, 16)}.`
          : `The claim transaction ${hash} was mined but reverted: nothing was paid.`,
      );
      if (!ok) button.disabled = false;
    } catch (error) {
      say(out, "");
      say(alert, `The claim was not sent: ${claimRefusal(error)}`);
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const signin = document.getElementById("siwe-signin");
    if (signin) {
      signin.hidden = false;
      signin.addEventListener("click", () => signIn(signin));
    }
    for (const button of document.querySelectorAll("button[data-proof-check]")) {
      button.hidden = false;
      button.addEventListener("click", () => checkProof(button));
    }
    for (const button of document.querySelectorAll("button[data-claim]")) {
      button.hidden = false;
      button.addEventListener("click", () => claim(button));
    }
  });
})();
