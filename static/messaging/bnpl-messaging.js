// On-site messaging for merchants. Add to a product or cart page:
//   <script src="https://<bnpl host>/static/messaging/bnpl-messaging.js" data-key="pk_test_..." async></script>
//   <p data-bnpl-amount="9900" data-bnpl-currency="USD"></p>
// Each element shows the line the server computes from your enabled products ("or 4 interest-free
// payments of $24.75"), and updates when its data-bnpl-amount changes (a variant or quantity picker).
// The browser never does the arithmetic; the text is set as text, never as HTML.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    return;
  }
  var key = script.getAttribute("data-key") || "";
  var endpoint = new URL("/messaging/v1/placement", script.src).toString();

  function render(element) {
    var params = new URLSearchParams({ key: key, amount: element.getAttribute("data-bnpl-amount") || "" });
    var currency = element.getAttribute("data-bnpl-currency");
    if (currency) {
      params.set("currency", currency);
    }
    element.setAttribute("aria-live", "polite");
    fetch(endpoint + "?" + params.toString(), { credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (body) { element.textContent = body.headline || ""; })
      .catch(function () { element.textContent = ""; });
  }

  function renderAll(root) {
    root.querySelectorAll("[data-bnpl-amount]").forEach(render);
  }

  function start() {
    renderAll(document);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        if (change.type === "attributes") {
          render(change.target);
        }
      });
    }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ["data-bnpl-amount", "data-bnpl-currency"] });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
