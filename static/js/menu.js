// The header's navigation on phones: folded behind the "Menu" button (site.css shows it at 600 px
// and below), opened and closed by it or Escape. Without this script the navigation simply stays open.
(function () {
  "use strict";
  var toggle = document.querySelector("header.site .menu-toggle");
  var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (!toggle || !menu) return;
  var header = toggle.closest("header");
  function set(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }
  header.classList.add("menu-ready");
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    set(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      set(false);
      toggle.focus();
    }
  });
})();
