// The hosted checkout's offer picker and card form, enhanced: the confirm button says what happens
// today for the option chosen; typing a new card chooses it; a second click while the first is on
// its way does nothing (the server is safe to repeat anyway: every confirm is idempotent).
(function () {
  "use strict";
  var form = document.getElementById("confirm-form");
  if (!form) {
    return;
  }
  var button = document.getElementById("confirm-button");

  function sayWhatHappens() {
    var chosen = form.querySelector('input[name="product"]:checked');
    if (chosen && button && chosen.dataset.today) {
      button.textContent = chosen.dataset.today;
    }
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "product") {
      sayWhatHappens();
    }
  });

  var newCard = document.getElementById("new-card-choice");
  var fields = document.getElementById("new-card");
  if (newCard && fields) {
    fields.addEventListener("input", function () {
      newCard.checked = true;
    });
    fields.addEventListener("focusin", function () {
      newCard.checked = true;
    });
  }

  var sending = false;
  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) {
      return; // the card is still being saved in the browser
    }
    if (sending) {
      event.preventDefault();
      return;
    }
    sending = true;
    if (button) {
      button.setAttribute("aria-disabled", "true");
      button.classList.add("busy");
    }
  });
  sayWhatHappens();
})();
