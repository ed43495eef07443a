/* Today's counts and earnings on the labelling page, live (rewards/_live_progress.html).
   - "earnings.updated", pushed to this expert alone when money reaches them (after commit):
     the totals are set from the event (already in tokens) and the gain is announced.
   - "rlhf:labelled", sent by js/label.js after each saved label: the panel is fetched again
     (labels today, seconds per label).
   Best effort only: without the socket the panel is right at the next page load. */
(function () {
  var panel = document.getElementById("live-progress");
  if (!panel || !window.fetch || !window.DOMParser) return;
  var url = panel.dataset.url;
  var attempts = 0;

  function set(id, text) {
    var el = document.getElementById(id);
    if (el && text !== undefined && text !== null) el.textContent = String(text);
  }

  function refresh() {
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
    socket.onopen = function () { attempts = 0; panel.dataset.live = "connected"; };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "earnings.updated") earned(event);
    };
    socket.onclose = function () {
      delete panel.dataset.live;
      if (++attempts <= 5) setTimeout(connect, 2000 * attempts);
    };
  }
  connect();
})();
