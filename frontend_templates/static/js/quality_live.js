/* A project's quality charts, live: staff pages hear "quality.changed" for a project on the staff
   channel (sent after commit, at most once per few seconds per project) and fetch the charts
   again from the fragment's URL (data-live-url). A change that comes while the server holds
   its next event back is picked up by a second fetch a little later. Best effort only: without
   JavaScript or the socket, the page is a normal page and a reload shows the latest. */
(function () {
  if (!("WebSocket" in window) || !window.fetch || !window.DOMParser) return;
  var target = document.getElementById("quality-charts");
  if (!target) return;
  var status = document.getElementById("charts-status");
  var project = target.dataset.project;
  var url = target.dataset.liveUrl;
  var attempts = 0, later = null, busy = false, again = false;
  var TRAILING_MS = 6000;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("quality-charts");
        var old = document.getElementById("quality-charts");
        if (!fresh || !old) return;
        // Keep open the data tables the reader opened.
        var open = {};
        old.querySelectorAll("figure.chart").forEach(function (figure) {
          var details = figure.querySelector("details");
          if (details && details.open) open[figure.id] = true;
        });
        fresh.querySelectorAll("figure.chart").forEach(function (figure) {
          var details = figure.querySelector("details");
          if (details && open[figure.id]) details.open = true;
        });
        old.replaceWith(document.adoptNode(fresh));
        var now = new Date();
        document.body.dataset.chartsUpdated = String(now.getTime());
        if (status) status.textContent = "Charts updated at " + now.toLocaleTimeString() + ".";
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function changed() {
    refresh();
    if (later) clearTimeout(later);
    later = setTimeout(function () { later = null; refresh(); }, TRAILING_MS);
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
      if (event.type === "quality.changed" && String(event.project) === project) changed();
    };
    socket.onclose = function () {
      delete document.body.dataset.live;
      if (++attempts <= 5) setTimeout(connect, 2000 * attempts);
    };
  }
  connect();
})();
