// Stripe Elements on the hosted checkout: a new card is saved by Stripe in the browser (a
// SetupIntent confirmed here), and the form sends us only the SetupIntent's id.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("card-form").textContent);
  var form = document.getElementById("confirm-form");
  var errors = document.getElementById("card-errors");
  var setupInput = document.getElementById("setup_intent");
  var stripe = Stripe(config.publishable_key);
  var card = stripe.elements().create("card");
  card.mount("#card-element");

  function newCardChosen() {
    var saved = form.querySelector('input[name="payment_method"]:checked');
    return !saved || saved.value === "";
  }

  form.addEventListener("submit", function (event) {
    if (!newCardChosen() || setupInput.value) {
      return; // a saved card, or the new card is already saved
    }
    event.preventDefault();
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    errors.textContent = "";
    stripe.confirmCardSetup(config.client_secret, { payment_method: { card: card } }).then(function (result) {
      if (result.error) {
        errors.textContent = result.error.message || "Your card could not be saved.";
        button.disabled = false;
        return;
      }
      setupInput.value = result.setupIntent.id;
      form.submit();
    });
  });
})();
