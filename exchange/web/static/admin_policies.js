// The policy editor's Preview, shown in place (progressive enhancement): the same form POST the button
// makes without a script, and the preview section of its answer put above the form. When the draft
// is invalid (422) or anything fails, the form is posted the plain way, so that every field's error
// shows next to its input.
(function () {
  "use strict";
  var form = document.querySelector("form.policy-editor");
  if (!form || !window.fetch || !window.DOMParser || !window.FormData) {
    return;
  }

  function plain() {
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "do";
    hidden.value = "preview";
    form.appendChild(hidden);
    form.dataset.plain = "yes";
    form.action = form.action.split("#")[0] + "#preview";
    form.submit();
  }

  function clearErrors() {
    var problems = document.getElementById("form-problems");
    if (problems) {
      problems.remove();
    }
    form.querySelectorAll(".field-error").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
      node.removeAttribute("aria-describedby");
    });
  }

  function show(section) {
    var shown = document.importNode(section, true);
    var old = document.getElementById("preview");
    if (old) {
      old.replaceWith(shown);
    } else {
      form.parentNode.insertBefore(shown, document.getElementById("form-problems") || form);
    }
    clearErrors();
    shown.focus();
    shown.scrollIntoView();
  }

  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || button.value !== "preview" || form.dataset.plain === "yes") {
      return;
    }
    event.preventDefault();
    var data = new FormData(form);
    data.append("do", "preview");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    fetch(form.action.split("#")[0], {method: "POST", body: data, credentials: "same-origin",
                                      headers: {"Accept": "text/html"}})
      .then(function (response) {
        return response.text().then(function (html) {
          var section = new DOMParser().parseFromString(html, "text/html").getElementById("preview");
          if (response.status !== 200 || !section) {
            plain();
            return;
          }
          show(section);
        });
      })
      .catch(plain)
      .finally(function () {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
  });
}());
