// The holder's vote panel (templates/web/_vote_panel.html): castVote from the wallet, a gasless
// Ballot signed for Lifeboat's relayer, or Snapshot's Vote message signed and forwarded.
// Every request goes to the existing API; the answer or the API's own refusal is shown as it is.
(() => {
  "use strict";

  const SUPPORT = { against: 0, for: 1, abstain: 2 }; // OpenZeppelin GovernorCountingSimple
  const SNAPSHOT_DOMAIN_FIELDS = { name: "string", version: "string", chainId: "uint256", verifyingContract: "address" };

  // Base units as token units, exactly (BigInt: amounts exceed 2**53): 1500000000000000000n, 18 -> "1.5".
  function formatUnits(value, decimals) {
    const digits = value.toString().padStart(decimals + 1, "0");
    const whole = BigInt(digits.slice(0, digits.length - decimals)).toLocaleString("en");
    const fraction = decimals ? digits.slice(digits.length - decimals).replace(/0+$/, "") : "";
    return fraction ? `${whole}.${fraction}` : whole;
  }

  function say(panel, text) {
    panel.querySelector(".vote-error").textContent = "";
    panel.querySelector(".vote-result").textContent = text;
  }

  function fail(panel, error) {
    panel.querySelector(".vote-error").textContent = error && error.message ? error.message : String(error);
  }

  function busy(panel, on) {
    panel.querySelectorAll("button[data-action]").forEach((button) => {
      button.disabled = on;
    });
  }

  function choiceOf(panel) {
    const checked = panel.querySelector('input[type="radio"]:checked');
    return checked ? checked.value : "for";
  }

  function reasonOf(panel) {
    return panel.querySelector("textarea").value.trim();
  }

  // The wallet's account, on the venue's chain (or a LifeboatError saying which chain to switch to).
  async function walletOn(panel) {
    const { account, chainId } = await window.Lifeboat.connect();
    const wanted = Number(panel.dataset.chainId);
    if (chainId !== wanted) {
      throw new window.Lifeboat.LifeboatError(
        `Your wallet is on chain ${chainId}, but this vote is on chain ${wanted}: switch networks in the wallet, then try again.`,
      );
    }
    panel.dataset.account = account; // the tally then shows this account's power and vote
    return account;
  }

  // Refresh the live tally for the wallet's account (the fragment keeps ?voter= while it polls).
  function refreshTally(panel, account) {
    const tally = panel.querySelector(".vote-tally");
    if (!tally || !window.htmx) return;
    const url = `${panel.dataset.tallyUrl}?voter=${encodeURIComponent(account)}`;
    window.htmx.ajax("GET", url, { target: tally, swap: "outerHTML" });
  }

  async function voteFromWallet(panel) {
    const account = await walletOn(panel);
    const support = SUPPORT[choiceOf(panel)];
    const reason = reasonOf(panel);
    const proposalId = panel.dataset.proposalId;
    const data = reason
      ? window.Lifeboat.encodeCall("function castVoteWithReason(uint256,uint8,string)", [proposalId, support, reason])
      : window.Lifeboat.encodeCall("function castVote(uint256,uint8)", [proposalId, support]);
    say(panel, "Confirm the transaction in your wallet…");
    const hash = await window.Lifeboat.sendTransaction({ from: account, to: panel.dataset.governor, data });
    say(panel, `Sent: transaction ${hash}. Waiting for it to be mined…`);
    const receipt = await window.Lifeboat.waitForReceipt(hash);
    if (receipt.status !== "0x1") {
      throw new window.Lifeboat.LifeboatError(`Transaction ${hash} failed on chain (reverted): your vote was not cast.`);
    }
    say(
      panel,
      `Vote cast from your wallet: transaction ${hash}, mined in block ${Number.parseInt(receipt.blockNumber, 16)}. It is counted here once the follower indexes it.`,
    );
  }

  async function voteGasless(panel) {
    const account = await walletOn(panel);
    const query = new URLSearchParams({ voter: account, support: choiceOf(panel) });
    const reason = reasonOf(panel);
    if (reason) query.set("reason", reason);
    say(panel, "Preparing your ballot…");
    const typedData = await window.Lifeboat.getJSON(`${panel.dataset.typedDataUrl}?${query}`);
    say(panel, "Sign the ballot in your wallet (no gas)…");
    const signature = await window.Lifeboat.signTypedData(account, typedData);
    say(panel, "Signed. Lifeboat checks and relays it…");
    const relay = await window.Lifeboat.postJSON(panel.dataset.submitUrl, { typed_data: typedData, signature });
    if (relay.status === "relayed") {
      say(panel, `Relayed: transaction ${relay.tx_hash} in block ${relay.block_number}. It is counted here once the follower indexes it.`);
    } else {
      say(panel, `Sent by the relayer: transaction ${relay.tx_hash}, awaiting its receipt (Lifeboat finishes it).`);
    }
  }

  async function voteSnapshot(panel) {
    const account = await walletOn(panel);
    const query = new URLSearchParams({ voter: account, choice: choiceOf(panel) });
    const reason = reasonOf(panel);
    if (reason) query.set("reason", reason);
    say(panel, "Preparing your Snapshot vote…");
    const data = await window.Lifeboat.getJSON(`${panel.dataset.typedDataUrl}?${query}`);
    // A wallet needs the domain's type and the primary type; the envelope keeps Snapshot's own types.
    const domainType = Object.keys(data.domain).map((name) => ({ name, type: SNAPSHOT_DOMAIN_FIELDS[name] }));
    const toSign = { types: { EIP712Domain: domainType, ...data.types }, primaryType: "Vote", domain: data.domain, message: data.message };
    say(panel, "Sign the vote in your wallet (no gas)…");
    const sig = await window.Lifeboat.signTypedData(account, toSign);
    say(panel, "Signed. Lifeboat checks it and forwards it to the hub…");
    const answer = await window.Lifeboat.postJSON(panel.dataset.submitUrl, { address: account, sig, data });
    const votes = formatUnits(BigInt(answer.vp), Number(panel.dataset.decimals || 0));
    say(panel, `Accepted by the hub: vote ${answer.id} with ${votes} votes. It is counted here at the next follow.`);
  }

  const ACTIONS = { wallet: voteFromWallet, gasless: voteGasless, snapshot: voteSnapshot };

  function start() {
    if (!window.Lifeboat) return;
    document.querySelectorAll(".vote-panel").forEach((panel) => {
      panel.querySelectorAll(".wallet-only").forEach((element) => {
        element.hidden = false;
      });
      const needs = panel.querySelector(".needs-wallet");
      if (needs) needs.hidden = true;
      panel.querySelectorAll("button[data-action]").forEach((button) => {
        button.addEventListener("click", async () => {
          busy(panel, true);
          try {
            await ACTIONS[button.dataset.action](panel);
          } catch (error) {
            say(panel, "");
            fail(panel, error);
          } finally {
            busy(panel, false);
            if (panel.dataset.account) refreshTally(panel, panel.dataset.account);
          }
        });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
