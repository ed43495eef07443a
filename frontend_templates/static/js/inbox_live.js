/* The menu's inbox count, live: every notification pushed to this person carries their unread
   count ("unread"); the badge follows it. Best effort only: without the socket the count is
   right at the next page load. */
(function () {
  if (!("WebSocket" in window)) return;
  var link = document.getElementById("menu-inbox");
  if (!link) return;
  var attempts = 0;
  function show(unread) {
    var badge = document.getElementById("inbox-unread");
    if (!unread) {
      if (badge) badge.remove();
      link.removeAttribute("aria-label");
      return;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge";
      badge.id = "inbox-unread";
      link.append(" ", badge);
    }
    badge.textContent = String(unread);
    link.setAttribute("aria-label", "Inbox, " + unread + " unread");
  }
  function connect() {
    var socket;
    try {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications/");
    } catch (e) { return; }
    socket.onopen = function () { attempts = 0; };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (typeof event.unread === "number") show(event.unread);
    };
    socket.onclose = function () { if (++attempts <= 5) setTimeout(connect, 2000 * attempts); };
  }
  connect();
})();
