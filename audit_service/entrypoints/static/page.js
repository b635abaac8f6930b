// The live page: cards come rendered from the server (GET / on load, then whole over
// server-sent events from /live); this script only puts them in place, and posts the form.
"use strict";

(function () {
  const orders = document.getElementById("orders");
  const live = document.getElementById("live");
  const form = document.getElementById("order-form");
  const result = document.getElementById("form-result");
  const MAX_CARDS = 60;
  let lostStream = false;

  function element(html) {
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  function replace(id, html) {
    const old = document.getElementById(id);
    const fresh = element(html);
    if (old && fresh) old.replaceWith(fresh);
  }

  function putCard(message) {
    const card = element(message.html);
    if (!card) return;
    const old = document.getElementById(card.id);
    if (old) {
      old.replaceWith(card);
    } else {
      orders.prepend(card);
      document.getElementById("no-orders").hidden = true;
      while (orders.children.length > MAX_CARDS) orders.lastElementChild.remove();
    }
  }

  async function resync() {
    // Back after losing the stream: whatever changed meanwhile is in the latest cards.
    const response = await fetch("/cards", { cache: "no-store" });
    if (response.ok) orders.innerHTML = await response.text();
  }

  function connect() {
    const source = new EventSource("/live");
    source.addEventListener("open", function () {
      live.textContent = "live";
      live.className = "live on";
      if (lostStream) resync();
      lostStream = false;
    });
    source.addEventListener("error", function () {
      live.textContent = "reconnecting…";
      live.className = "live off";
      lostStream = true;
    });
    source.addEventListener("order", function (e) { putCard(JSON.parse(e.data)); });
    source.addEventListener("health", function (e) { replace("health", JSON.parse(e.data).html); });
    source.addEventListener("orphans", function (e) { replace("orphans", JSON.parse(e.data).html); });
  }

  function idempotencyKey() {
    // crypto.randomUUID needs a secure context (https or localhost): not on a phone over http.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const data = new FormData(form);
    const body = {
      customer_id: String(data.get("customer_id")),
      items: [{ sku: String(data.get("sku")), quantity: Number(data.get("quantity")) }],
    };
    result.className = "form-result";
    result.textContent = "placing…";
    delete result.dataset.orderId;
    try {
      const response = await fetch("/proxy/orders", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey() },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(function () { return {}; });
      if (response.ok) {
        result.textContent = "order " + answer.id + " placed: watch it below";
        result.dataset.orderId = answer.id;
      } else {
        result.className = "form-result bad";
        result.textContent = response.status + ": " + (answer.message || answer.detail || "refused");
      }
    } catch (err) {
      result.className = "form-result bad";
      result.textContent = "could not reach the audit service: " + err;
    }
  });

  connect();
})();
