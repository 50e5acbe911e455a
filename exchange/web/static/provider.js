// The new-offer form shows only the fields that apply: the product id or the collection (what is
// sold), the price unless the offer is free, the least area for per km², the allowance for per GB.
// Without this script every field shows and the server names whatever does not apply.
(function () {
  "use strict";
  var form = document.querySelector("form.offer-form");
  if (!form) { return; }
  var target = form.querySelector("#f-target");
  var model = form.querySelector("#f-model");

  function show(id, visible) {
    var input = form.querySelector("#" + id);
    if (!input) { return; }
    var field = input.closest(".field");
    // A field the server refused stays in sight, so its message is never hidden.
    field.hidden = !visible && input.getAttribute("aria-invalid") !== "true";
  }

  function update() {
    var byCollection = target.value === "collection";
    show("f-product_id", !byCollection);
    show("f-collection_id", byCollection);
    show("f-price", model.value !== "free");
    show("f-min_km2", model.value === "per_km2");
    show("f-gb", model.value === "per_gb");
  }

  target.addEventListener("change", update);
  model.addEventListener("change", update);
  update();
}());
