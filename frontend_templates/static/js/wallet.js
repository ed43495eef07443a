// Link a wallet with any EIP-1193 browser wallet: ask the server for its EIP-4361 message,
// have the wallet sign it (personal_sign), send the signature back. No library, no CDN.
(function () {
  "use strict";
  const button = document.getElementById("wallet-connect");
  const status = document.getElementById("wallet-status");
  if (!button) return;
  if (!window.ethereum) {
    status.textContent = "No browser wallet found: use the offline form below.";
    button.disabled = true;
    return;
  }
  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = (data.errors && data.errors[0]) || {};
      throw new Error(error.message || "HTTP " + response.status);
    }
    return data;
  }
  function utf8Hex(text) {
    return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      status.textContent = "Asking your wallet for an address...";
      const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      const address = accounts[0];
      const issued = await post(button.dataset.messageUrl, { address });
      status.textContent = "Sign the message in your wallet (no transaction, no gas).";
      const signature = await window.ethereum.request({
        method: "personal_sign",
        params: [utf8Hex(issued.message), address],
      });
      await post(button.dataset.linkUrl, { message: issued.message, signature });
      status.textContent = "Linked.";
      window.location.reload();
    } catch (error) {
      status.textContent = "Not linked: " + (error && error.message ? error.message : error);
      button.disabled = false;
    }
  });
})();
