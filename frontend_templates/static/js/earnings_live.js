/* Today's counts and earnings, live: the labelling page's panel (rewards/_live_progress.html)
   and the earnings page's balances and statement (rewards/earnings.html).
   - "earnings.updated", pushed to this expert alone when money reaches them (after commit):
     the panel's totals are set from the event (already in tokens) and the gain is announced;
     the earnings page fetches itself again and swaps its balances and statement in.
   - "rlhf:labelled", sent by js/label.js after each saved label: the panel is fetched again
     (labels today, seconds per label).
   Best effort only: without the socket the page is right at the next load. */
(function () {
  var panel = document.getElementById("live-progress");
  var balances = document.getElementById("balances");
  if ((!panel && !balances) || !window.fetch || !window.DOMParser) return;
  var url = panel ? panel.dataset.url : null;
  var attempts = 0;

  function refreshPage() {
    fetch(window.location.pathname + window.location.search, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["balances", "statement-section"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(document.adoptNode(fresh));
        });
        document.body.dataset.earningsUpdated = "1";
      })
      .catch(function () {});
  }

  function set(id, text) {
    var el = document.getElementById(id);
    if (el && text !== undefined && text !== null) el.textContent = String(text);
  }

  function refresh() {
    if (!url) return;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-progress");
        if (!fresh) return;
        ["progress-labels-today", "progress-pace", "progress-earned-today", "progress-earned"].forEach(function (id) {
          var from = fresh.querySelector("#" + id);
          if (from) set(id, from.textContent);
        });
      })
      .catch(function () {});
  }

  function earned(event) {
    if (!panel) { refreshPage(); return; }
    var before = document.getElementById("progress-earned");
    var was = before ? before.textContent : "";
    set("progress-earned", event.earned);
    set("progress-earned-today", event.earned_today);
    if (typeof event.labels_today === "number") set("progress-labels-today", event.labels_today);
    if (typeof event.seconds_per_label === "number") set("progress-pace", Math.round(event.seconds_per_label) + " s per label");
    if (was !== event.earned) set("progress-tick", "Reward posted: " + event.earned + " tokens in all.");
    document.body.dataset.earningsUpdated = event.earned;
  }

  document.addEventListener("rlhf:labelled", refresh);

  if (!("WebSocket" in window)) return;
  function connect() {
    var socket;
    try {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications/");
    } catch (e) { return; }
    socket.onopen = function () { attempts = 0; (panel || balances).dataset.live = "connected"; };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "earnings.updated") earned(event);
    };
    socket.onclose = function () {
      delete (panel || balances).dataset.live;
      if (++attempts <= 5) setTimeout(connect, 2000 * attempts);
    };
  }
  connect();
})();
