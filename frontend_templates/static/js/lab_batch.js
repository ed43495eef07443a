/* The batch page follows the ingest: its status fragment is fetched again every second until
   the batch is ingested or failed. */
(function () {
  "use strict";
  var box = document.getElementById("batch-status");
  if (!box) return;

  function finished() {
    var section = box.querySelector("#batch-progress");
    return !section || section.dataset.finished === "1";
  }

  function poll() {
    if (finished()) return;
    fetch(box.dataset.statusUrl, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* try again on the next tick */ })
      .then(function () { if (!finished()) setTimeout(poll, 1000); });
  }

  setTimeout(poll, 1000);
})();
