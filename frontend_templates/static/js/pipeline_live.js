/* The staff pipeline page, live: every data-refresh-seconds the table (the element
   #pipeline-live of the fragment at data-live-url) is fetched again and swapped in, while the
   tab is visible. Best effort only: without JavaScript, a reload shows the latest. */
(function () {
  if (!window.fetch || !window.DOMParser) return;
  var status = document.getElementById("pipeline-status");
  if (!status || !status.dataset.liveUrl) return;
  var every = Math.max(1, Number(status.dataset.refreshSeconds) || 5) * 1000;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(status.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("pipeline-live");
        var old = document.getElementById("pipeline-live");
        if (!fresh || !old) return;
        old.replaceWith(document.adoptNode(fresh));
        var now = new Date();
        document.body.dataset.liveUpdated = String(now.getTime());
        status.textContent = "Updated at " + now.toLocaleTimeString() + "; read again every " + every / 1000 + " seconds.";
      })
      .catch(function () {
        status.textContent = "Could not read the pipeline; trying again in " + every / 1000 + " seconds.";
      })
      .then(function () { busy = false; });
  }

  setInterval(refresh, every);
})();
