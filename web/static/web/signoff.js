// The committee's wallet sign-off on the document page: connect the wallet, check it holds the
// member's linked address on the venue's chain, sign the EIP-712 typed data the API gives, and
// post the signature to the API, which checks it before storing. Needs wallet.js (window.Lifeboat).
"use strict";

(() => {
  function say(button, text, isError) {
    const status = document.getElementById(button.dataset.status);
    if (!status) return;
    status.textContent = text;
    status.className = isError ? "signoff-status notice bad" : "signoff-status notice";
    status.setAttribute("role", isError ? "alert" : "status");
  }

  async function signOff(button) {
    const Lifeboat = window.Lifeboat;
    button.disabled = true;
    try {
      say(button, "Connecting to your wallet…", false);
      const { account, chainId } = await Lifeboat.connect();
      const linked = button.dataset.address;
      if (account.toLowerCase() !== linked.toLowerCase()) {
        throw new Lifeboat.LifeboatError(
          `Your wallet's account is ${account}, but your committee address is ${linked}: switch to that account in the wallet and try again.`,
        );
      }
      const wanted = Number(button.dataset.chainId);
      if (chainId !== wanted) {
        throw new Lifeboat.LifeboatError(
          `Your wallet is on chain ${chainId}, but this venue is on chain ${wanted}: switch networks in the wallet and try again.`,
        );
      }
      const answer = await Lifeboat.getJSON(button.dataset.typedDataUrl);
      say(button, `Sign the typed data in your wallet (digest ${answer.digest})…`, false);
      const signature = await Lifeboat.signTypedData(account, answer.typed_data);
      say(button, "Checking the signature…", false);
      await Lifeboat.postJSON(button.dataset.postUrl, { venue: Number(button.dataset.venue), signature });
      say(button, "Signed off. Reloading the page…", false);
      window.location.reload();
    } catch (error) {
      say(button, error && error.message ? error.message : String(error), true);
      button.disabled = false;
    }
  }

  function start() {
    if (!window.Lifeboat) return;
    for (const button of document.querySelectorAll("button.js-signoff")) {
      button.hidden = false;
      button.addEventListener("click", () => signOff(button));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
