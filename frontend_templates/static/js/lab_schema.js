/* The lab console's schema editor: while the label schema's JSON is edited, the server renders
   the preview again (POST to the form's data-preview-url, the same validator and renderer as
   saving) and this replaces the preview's fragment. No JavaScript: the preview follows saves. */
(function () {
  "use strict";
  var form = document.getElementById("project-form");
  var box = document.getElementById("schema-preview");
  var area = document.getElementById("id_label_schema");
  if (!form || !box || !area) return;
  var timer = null;
  var asked = 0;

  function refresh() {
    var body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    body.append("label_schema", area.value);
    body.append("project", form.dataset.project || "");
    var mine = ++asked;
    box.setAttribute("aria-busy", "true");
    fetch(form.dataset.previewUrl, {method: "POST", body: body, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        if (mine !== asked) return;  // an older answer arriving late
        box.innerHTML = html;
        box.dataset.updated = String(mine);
        if (window.rlhfTypeset) box.querySelectorAll(".rendered").forEach(window.rlhfTypeset);
      })
      .catch(function () { /* the preview stays as it was; saving still checks the schema */ })
      .then(function () { if (mine === asked) box.removeAttribute("aria-busy"); });
  }

  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  });
})();
