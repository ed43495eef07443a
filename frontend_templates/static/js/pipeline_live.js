/* The staff pipeline page, live: every data-refresh-seconds the table (the element
   #pipeline-live of the fragment at data-live-url) is fetched again and swapped in, while the
   tab is visible. The status line (a polite live region) changes only when the verdict
   (#pipeline-behind: which stages are behind) does, so a screen reader hears a change, not
   every refresh; the table's caption says when it was read. Best effort only: without
   JavaScript, a reload shows the latest. */
(function () {
  if (!window.fetch || !window.DOMParser) return;
  var status = document.getElementById("pipeline-status");
  if (!status || !status.dataset.liveUrl) return;
  var every = Math.max(1, Number(status.dataset.refreshSeconds) || 5) * 1000;
  var busy = false, failed = false;

  function verdict(part) {
    var line = part.querySelector("#pipeline-behind");
    return line ? line.textContent.trim() : "";
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(status.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("pipeline-live");
        var old = document.getElementById("pipeline-live");
        if (!fresh || !old) throw new Error("no table (signed out?)");
        var before = verdict(old);
        old.replaceWith(document.adoptNode(fresh));
        document.body.dataset.liveUpdated = String(Date.now());
        if (verdict(fresh) !== before || failed) status.textContent = verdict(fresh);
        failed = false;
      })
      .catch(function () {
        failed = true;
        status.textContent = "Could not read the pipeline; trying again in " + every / 1000 + " seconds.";
      })
      .then(function () { busy = false; });
  }

  setInterval(refresh, every);
})();
