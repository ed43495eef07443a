/* The lab console's upload: the file itself is the request body (as the API takes it), so the
   bar shows the bytes sent; then the batch's page follows the ingest. Without JavaScript the form
   posts the file as multipart and lands on the same page. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest) return;
  var input = form.querySelector("input[type=file]");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bytes");
  var text = document.getElementById("upload-bytes-text");
  var errors = document.getElementById("upload-errors");
  var button = document.getElementById("upload-submit");

  function showErrors(list) {
    errors.textContent = "";
    var ul = document.createElement("ul");
    list.forEach(function (e) {
      var li = document.createElement("li");
      li.textContent = (e.field ? e.field + ": " : "") + e.message;
      ul.appendChild(li);
    });
    errors.appendChild(ul);
    errors.hidden = false;
  }

  // One key per file chosen: a retry of the same file is answered with its first batch, another
  // file is a new upload.
  if (input) input.addEventListener("change", function () {
    if (window.crypto && window.crypto.randomUUID) form.elements.idempotency_key.value = window.crypto.randomUUID();
  });

  function kb(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KB" : (n / 1048576).toFixed(1) + " MB"; }

  form.addEventListener("submit", function (event) {
    var file = input && input.files && input.files[0];
    if (!file) return;  // the browser's own check names the missing file
    event.preventDefault();
    var query = new URLSearchParams();
    ["on_duplicate", "priority"].forEach(function (name) {
      var field = form.elements[name];
      if (field && field.value !== "") query.set(name, field.value);
    });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action + "?" + query.toString());
    xhr.setRequestHeader("X-CSRFToken", form.elements.csrfmiddlewaretoken.value);
    xhr.setRequestHeader("X-Console-Upload", "1");
    xhr.setRequestHeader("Idempotency-Key", form.elements.idempotency_key.value);
    xhr.setRequestHeader("Content-Type", /\.json$/i.test(file.name) ? "application/json" : "application/x-ndjson");
    box.hidden = false;
    errors.hidden = true;
    button.disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round(100 * e.loaded / e.total);
      text.textContent = kb(e.loaded) + " of " + kb(e.total);
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (body && body.location) { window.location.assign(body.location); return; }
      button.disabled = false;
      showErrors((body && body.errors) || [{field: "", message: "The upload was refused (HTTP " + xhr.status + ")."}]);
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      showErrors([{field: "", message: "The connection failed; upload the file again (it will not be stored twice)."}]);
    });
    xhr.send(file);
  });
})();
