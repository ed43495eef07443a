/* Live updates: when staff decide on a credential, say so and refresh the lists in place.
   Best effort only: if the socket cannot open, the page simply works without it. */
(function () {
  if (!("WebSocket" in window) || !window.fetch || !window.DOMParser) return;
  var notice = document.getElementById("live-notice");
  var attempts = 0;
  function refresh() {
    fetch(window.location.pathname, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["credentials", "levels"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(fresh);
        });
      })
      .catch(function () {});
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
      if (event.type !== "credential.status") return;
      notice.textContent = (event.title ? "Your credential “" + event.title + "”" : "One of your credentials") +
        " is now " + event.status + ".";
      notice.hidden = false;
      refresh();
    };
    socket.onclose = function () { delete document.body.dataset.live; if (++attempts <= 5) setTimeout(connect, 2000 * attempts); };
  }
  connect();
})();
