/* The staff dashboards, live: the quality pages (projects list, a project's page) and the
   adjudication queue hear "quality.changed" on the staff channel (sent after commit, at most
   once per few seconds per project; the queue also "quality.adjudication_needed"), the
   credential review queue "credential.submitted", and they fetch
   their live parts again from the server. The status element (#live-status) names the fragment
   URL (data-live-url, sent with the page's own query: filters, offset, page; it may be the page
   itself), the project followed (data-live-project, "*" for any) and the events heard
   (data-live-events, default "quality.changed"). Each element marked data-live-part in the fetched
   HTML replaces the element with the same id on the page: server-rendered HTML, no templating
   here. Fetches are at most one per MIN_GAP_MS, and one more comes TRAILING_MS after the last
   event, so a change the server held back is still shown. Best effort only: without
   JavaScript or the socket, the page is a normal page and a reload shows the latest. */
(function () {
  if (!("WebSocket" in window) || !window.fetch || !window.DOMParser) return;
  var status = document.getElementById("live-status");
  if (!status || !status.dataset.liveUrl) return;
  var url = status.dataset.liveUrl + location.search;
  var project = status.dataset.liveProject || "*";
  var events = (status.dataset.liveEvents || "quality.changed").split(/\s+/);
  var attempts = 0, later = null, waiting = null, busy = false, again = false, last = 0;
  var TRAILING_MS = 6000, MIN_GAP_MS = 3000;

  // Keep open the <details> (a chart's data table) the reader opened: each is known by the
  // id of its nearest element with one and its rank there.
  function detailsKeys(root) {
    var seen = {};
    return Array.prototype.map.call(root.querySelectorAll("details"), function (details) {
      var owner = details.closest("[id]");
      var key = owner ? owner.id : "";
      seen[key] = (seen[key] || 0) + 1;
      return {details: details, key: key + "/" + seen[key]};
    });
  }

  function keepOpen(old, part) {
    var open = {};
    detailsKeys(old).forEach(function (d) { if (d.details.open) open[d.key] = true; });
    detailsKeys(part).forEach(function (d) { if (open[d.key]) d.details.open = true; });
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var swapped = 0;
    fresh.querySelectorAll("[data-live-part][id]").forEach(function (part) {
      var old = document.getElementById(part.id);
      if (!old) return;
      keepOpen(old, part);
      old.replaceWith(document.adoptNode(part));
      swapped++;
    });
    return swapped;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    last = Date.now();
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (!swap(html)) return;
        var now = new Date();
        document.body.dataset.liveUpdated = String(now.getTime());
        status.textContent = "Updated at " + now.toLocaleTimeString() + ".";
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  // Now, or when MIN_GAP_MS has passed since the last fetch.
  function soon() {
    var wait = last + MIN_GAP_MS - Date.now();
    if (wait <= 0) { refresh(); return; }
    if (!waiting) waiting = setTimeout(function () { waiting = null; refresh(); }, wait);
  }

  function changed() {
    soon();
    if (later) clearTimeout(later);
    later = setTimeout(function () { later = null; soon(); }, TRAILING_MS);
  }

  function connect() {
    var socket;
    try {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications/");
    } catch (e) { return; }
    socket.onopen = function () { attempts = 0; document.body.dataset.live = "connected"; };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (events.indexOf(event.type) < 0) return;
      if (project === "*" || String(event.project) === project) changed();
    };
    socket.onclose = function () {
      delete document.body.dataset.live;
      if (++attempts <= 5) setTimeout(connect, 2000 * attempts);
    };
  }
  connect();
})();
