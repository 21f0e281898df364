// The browser tests' wallet: an EIP-1193 provider set as window.ethereum before any page script runs
// (page.add_init_script). Every request goes to the Python side through the exposed function
// __lifeboatTestWallet (tests/browser/wallet.py), which answers from anvil with a dev account.
(() => {
  const listeners = new Map();
  window.ethereum = {
    isLifeboatTestWallet: true,
    async request({ method, params } = {}) {
      if (typeof method !== "string") {
        const error = new Error("request() needs a method name");
        error.code = -32600;
        throw error;
      }
      const answer = await window.__lifeboatTestWallet(method, params === undefined ? [] : params);
      if (answer.error) {
        const error = new Error(answer.error.message);
        error.code = answer.error.code;
        error.data = answer.error.data;
        throw error;
      }
      return answer.result;
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return this;
    },
    removeListener(event, listener) {
      listeners.get(event)?.delete(listener);
      return this;
    },
  };
})();
