/* The expert's labelling workspace: lease the next item, show it, collect the label.
   The qualification exam page (qualification/exam_take.html) reuses it: there "next" is a GET
   of the attempt's current question (data-next-method="GET"), there is no lease to extend
   (no data-extend-url) and a question carries its position ("Question 2 of 5").

   Everything goes through the expert's labelling API (the same one scripts use):
     POST /api/v1/queue/next                  -> an assignment, or 204 + Queue-Reason(-Message)
     POST /api/v1/assignments/<id>/submit     -> 201 (new label) / 200 (retry) / 400 errors / 409
     POST /api/v1/assignments/<id>/extend     heartbeat while the tab is visible
     POST /api/v1/assignments/<id>/skip       {reason}
     POST /api/v1/assignments/<id>/report     {reason, details}
   Errors have the shape {"errors": [{field, code, message}]}; each is shown next to its field.

   Lab content (prompt, responses) arrives twice: as text, and as HTML the server rendered from
   Markdown and sanitised (annotate/rendering.py: no raw HTML, no script, no style). The HTML is
   shown; its math (<span class="math">TeX</span>) is typeset by the vendored KaTeX, which builds
   DOM nodes and sets styles through the CSSOM, so the page's style-src 'self' policy holds.
   The guidelines arrive as HTML sanitised by the server too.

   Keys (listed on the page for the item's schema, see shortcutRows): letters pick the pairwise
   answer (a, b, t, x); digits answer the marked field (strength, then each criterion in turn,
   or the ranking item in focus), so "1" means one thing at a time; Ctrl+Enter submits. */
(function () {
  "use strict";

  var app = document.getElementById("label-app");
  if (!app || !window.fetch) return;

  var IDLE_AFTER_MS = 60 * 1000; // no input for this long: the expert is not working
  var LETTERS = "ABCDEFGH";
  var CHOICES = {
    A: {text: "A is better", key: "a"},
    B: {text: "B is better", key: "b"},
    tie: {text: "Tie", key: "t"},
    both_bad: {text: "Both are bad", key: "x"}
  };
  var ROLE_NAMES = {system: "System", developer: "Developer", user: "User", assistant: "Assistant", tool: "Tool"};

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    status: $("label-status"), loading: $("loading"), empty: $("queue-empty"),
    emptyMessage: $("queue-empty-message"), emptyHint: $("queue-empty-hint"), retry: $("queue-retry"),
    workspace: $("workspace"), form: $("label-form"), formError: $("form-error"),
    prompt: $("prompt"), responses: $("responses"),
    guidelines: $("guidelines"), guidelinesBody: $("guidelines-body"), guidelinesProject: $("guidelines-project"),
    choiceField: $("choice-field"), choiceOptions: $("choice-options"),
    strengthField: $("strength-field"), strengthOptions: $("strength-options"),
    rankingField: $("ranking-field"), rankingHelp: $("ranking-help"), rankingSummary: $("ranking-summary"),
    rankingList: $("ranking-list"), syncScroll: $("sync-scroll"),
    guidelinesToggle: $("guidelines-toggle"), guidelinesClose: $("guidelines-close"),
    shortcuts: $("shortcuts"), shortcutsToggle: $("shortcuts-toggle"), shortcutList: $("shortcut-list"),
    rationaleField: $("rationale-field"), rationale: $("rationale"), rationaleLabel: $("rationale-label"),
    rationaleCounter: $("rationale-counter"),
    submit: $("submit-label"), skipOpen: $("skip-open"), reportOpen: $("report-open"),
    skipForm: $("skip-form"), reportForm: $("report-form"),
    projectSelect: $("project-select"),
    lease: $("lease-countdown"), active: $("active-time"), sessionCount: $("session-count")
  };

  var state = {
    assignment: null,   // the assignment JSON being worked on
    clientId: null,     // one per assignment, reused on every retry of its submit
    expiresAt: 0,       // lease expiry, in this browser's clock
    clockSkew: 0,       // server time minus browser time, from the Date header
    activeMs: 0,
    lastInput: Date.now(),
    lastTick: Date.now(),
    lastHeartbeat: 0,
    heartbeatTimer: null,
    sending: false,
    leaseLost: false,
    submitted: 0,
    ranking: [],        // [{letter, tied}] best first; tied: same rank as the one above
    rankingTouched: false,
    rankingConfirm: false,
    guidelines: {}      // project id -> HTML
  };

  // --- HTTP -------------------------------------------------------------------------------

  function urlFor(kind, id) {
    return app.dataset[kind + "Url"].replace(app.dataset.placeholder, id);
  }

  function api(url, body) {
    return fetch(url, {
      method: body === undefined ? "GET" : "POST",
      credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/json", "X-CSRFToken": app.dataset.csrf},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      var date = Date.parse(res.headers.get("Date") || "");
      if (!isNaN(date)) state.clockSkew = date - Date.now();
      var isJson = (res.headers.get("Content-Type") || "").indexOf("json") !== -1;
      var parse = res.status !== 204 && isJson ? res.json().catch(function () { return null; }) : Promise.resolve(null);
      return parse.then(function (data) { return {status: res.status, data: data, headers: res.headers}; });
    });
  }

  /* Django sends a header that is not Latin-1 as an RFC 2047 encoded word
     (=?utf-8?b?...?=): a project in a domain named in Cyrillic, say. */
  function headerText(value) {
    var match = /^=\?utf-8\?b\?([A-Za-z0-9+\/=]+)\?=$/i.exec(value || "");
    if (!match || !window.TextDecoder) return value;
    try {
      var binary = atob(match[1]);
      return new TextDecoder("utf-8").decode(Uint8Array.from(binary, function (c) { return c.charCodeAt(0); }));
    } catch (e) {
      return value;
    }
  }

  function errorsOf(result) {
    var errors = result.data && result.data.errors;
    if (Array.isArray(errors) && errors.length) return errors;
    return [{field: null, code: "http_" + result.status, message: "The server answered with an error (HTTP " + result.status + ")."}];
  }

  // --- Small DOM helpers ------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  function say(message, tone) {
    els.status.textContent = message || "";
    els.status.className = "notice" + (tone ? " " + tone : "");
    show(els.status, !!message);
  }

  function formatSeconds(total) {
    total = Math.max(0, Math.round(total));
    var m = Math.floor(total / 60), s = total % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- Field errors -----------------------------------------------------------------------

  function clearErrors(scope) {
    scope.querySelectorAll("[data-errors-for]").forEach(function (list) { list.textContent = ""; });
    scope.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    scope.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    var general = scope === els.form ? els.formError : scope.querySelector("[data-form-error]");
    if (general) { general.textContent = ""; general.hidden = true; }
  }

  /* Put each error next to its field: "criteria.B.accuracy" goes to that row, or failing that
     to "criteria.B", then "criteria"; an error without a known field goes on top of the form. */
  function showErrors(scope, errors) {
    var general = scope === els.form ? els.formError : scope.querySelector("[data-form-error]");
    var first = null;
    errors.forEach(function (error) {
      var list = null, field = error.field || "";
      while (field && !list) {
        list = scope.querySelector('[data-errors-for="' + CSS.escape(field) + '"]');
        if (!list) field = field.indexOf(".") === -1 ? "" : field.slice(0, field.lastIndexOf("."));
      }
      if (list) {
        list.appendChild(el("li", {text: error.message}));
        var holder = list.closest("fieldset, .criterion, #rationale-field, .side-form");
        if (holder) holder.classList.add("has-error");
        if (field === "rationale") els.rationale.setAttribute("aria-invalid", "true");
        first = first || list;
      } else if (general) {
        general.appendChild(el("p", {text: error.message}));
        general.hidden = false;
        first = first || general;
      }
    });
    if (first && first.scrollIntoView) first.scrollIntoView({block: "center", behavior: "smooth"});
  }

  // --- Rendering an assignment ------------------------------------------------------------

  /* Sanitised HTML from the server (annotate/rendering.py); the text is the fallback. */
  function richText(className, html, text) {
    var node = el("div", {className: className});
    if (typeof html === "string") {
      node.classList.add("rendered");
      node.innerHTML = html;
      typeset(node);
    } else {
      node.textContent = text;
    }
    return node;
  }

  function typeset(root) {
    if (window.rlhfTypeset) window.rlhfTypeset(root);  // js/typeset.js; else the TeX stays as text
  }

  function renderPrompt(prompt, html) {
    els.prompt.textContent = "";
    if (Array.isArray(prompt)) {
      prompt.forEach(function (message, index) {
        var role = String(message.role || "");
        var content = typeof message.content === "string" ? message.content : JSON.stringify(message.content);
        els.prompt.appendChild(el("div", {className: "message message-" + role.replace(/[^a-z]/g, "")}, [
          el("div", {className: "role", text: ROLE_NAMES[role] || role}),
          richText("text", Array.isArray(html) ? html[index] : undefined, content)
        ]));
      });
    } else {
      els.prompt.appendChild(richText("text", typeof html === "string" ? html : undefined,
        typeof prompt === "string" ? prompt : JSON.stringify(prompt)));
    }
  }

  function criterionRow(letter, criterion) {
    var name = "crit-" + letter + "-" + criterion.key;
    var low = criterion.min === undefined ? 1 : criterion.min;
    var options = el("div", {className: "likert", role: "radiogroup", "aria-label": criterion.label + " of response " + letter + " (keys " + low + " to " + criterion.max + ")"});
    for (var value = low; value <= criterion.max; value++) {
      var id = name + "-" + value;
      options.appendChild(el("span", {className: "likert-option"}, [
        el("input", {type: "radio", id: id, name: name, value: String(value), "data-letter": letter, "data-key": criterion.key}),
        el("label", {"for": id, text: String(value), "aria-label": criterion.label + " " + value + " for response " + letter})
      ]));
    }
    return el("div", {className: "criterion"}, [
      el("div", {className: "criterion-name"}, [
        el("span", {text: criterion.label}),
        criterion.description ? el("span", {className: "helptext", text: criterion.description}) : null,
        el("span", {className: "helptext", text: low + " = worst, " + criterion.max + " = best"})
      ]),
      options,
      el("ul", {className: "errorlist", "data-errors-for": "criteria." + letter + "." + criterion.key})
    ]);
  }

  function renderResponses(assignment) {
    var schema = assignment.label_schema;
    var responses = assignment.responses;
    var ranking = schema.kind === "ranking";
    els.responses.textContent = "";
    els.responses.className = "responses " + (responses.length === 2 ? "responses-pair" : "responses-list");
    responses.forEach(function (response) {
      var letter = response.label;
      var head = el("header", {className: "response-head"}, [el("h2", {text: "Response " + letter})]);
      if (ranking) head.appendChild(el("span", {className: "rank-badge", id: "rank-badge-" + letter}));
      var text = richText("text response-text", response.html, response.text);
      // A scrolling box must be reachable from the keyboard (arrows, Page Down scroll it).
      text.setAttribute("tabindex", "0");
      text.setAttribute("role", "region");
      text.setAttribute("aria-label", "Text of response " + letter);
      text.addEventListener("scroll", function () { syncScroll(text); }, {passive: true});
      var card = el("article", {className: "card response", id: "response-" + letter, "data-letter": letter}, [head, text]);
      var criteria = schema.criteria || [];
      if (criteria.length) {
        var box = el("div", {className: "criteria"}, [
          el("h3", {text: "Rate response " + letter}),
          el("p", {className: "muted criteria-hint", text: "Digits rate the marked criterion; Tab moves to the next one."})
        ]);
        criteria.forEach(function (criterion) { box.appendChild(criterionRow(letter, criterion)); });
        box.appendChild(el("ul", {className: "errorlist", "data-errors-for": "criteria." + letter}));
        card.appendChild(box);
      }
      els.responses.appendChild(card);
    });
  }

  // --- Synced scrolling of the responses ----------------------------------------------------

  var SYNC_KEY = "label.syncScroll";
  try { els.syncScroll.checked = window.localStorage.getItem(SYNC_KEY) !== "off"; } catch (e) { /* private mode */ }
  els.syncScroll.addEventListener("change", function () {
    try { window.localStorage.setItem(SYNC_KEY, els.syncScroll.checked ? "on" : "off"); } catch (e) { /* ignore */ }
  });

  /* Keep the other responses at the same relative position. A box this moved fires a scroll
     event of its own: it is recognised by the position it was given and not echoed back. */
  function syncScroll(source) {
    if (!els.syncScroll.checked) return;
    if (source.syncedTo !== undefined && Math.abs(source.scrollTop - source.syncedTo) < 2) {
      source.syncedTo = undefined;
      return;
    }
    source.syncedTo = undefined;
    var range = source.scrollHeight - source.clientHeight;
    if (range <= 0) return;
    var ratio = source.scrollTop / range;
    els.responses.querySelectorAll(".response-text").forEach(function (box) {
      var other = box.scrollHeight - box.clientHeight;
      if (box === source || other <= 0) return;
      var top = Math.round(ratio * other);
      if (Math.abs(box.scrollTop - top) < 2) return;
      box.scrollTop = top;
      box.syncedTo = box.scrollTop;
    });
  }

  function optionButton(group, value, text, hint) {
    var id = group + "-" + value;
    return el("span", {className: "option"}, [
      el("input", {type: "radio", id: id, name: group, value: String(value), "aria-keyshortcuts": hint || null}),
      el("label", {"for": id}, [text, hint ? el("kbd", {text: hint, "aria-hidden": "true"}) : null])
    ]);
  }

  function renderAnswerFields(schema, count) {
    var pairwise = schema.kind === "pairwise";
    els.choiceOptions.textContent = "";
    els.strengthOptions.textContent = "";
    show(els.choiceField, pairwise);
    show(els.strengthField, false);
    show(els.rankingField, !pairwise);
    if (pairwise) {
      (schema.choices || ["A", "B"]).forEach(function (choice) {
        var info = CHOICES[choice] || {text: choice};
        els.choiceOptions.appendChild(optionButton("choice", choice, info.text, info.key));
      });
      var levels = (schema.strength && schema.strength.levels) || [];
      levels.forEach(function (level, index) {
        els.strengthOptions.appendChild(optionButton("strength", index + 1, level, levels.length < 10 ? String(index + 1) : null));
      });
    } else {
      var ties = rankingTiesAllowed(schema);
      els.rankingHelp.textContent = "Best at the top. Pick a response with ↑/↓, move it with Alt+↑/↓ or a digit (its place)" +
        (ties ? "; = ties it with the one above." : "; this project allows no ties.");
      state.ranking = state.assignment.responses.map(function (r) { return {letter: r.label, tied: false}; });
      state.rankingTouched = false;
      state.rankingConfirm = false;
      state.rankingFocus = null;
      renderRanking();
    }
    renderShortcuts(schema, count);
    var rule = schema.rationale || {mode: "optional", min_length: 0};
    show(els.rationaleField, rule.mode !== "off");
    els.rationale.value = "";
    els.rationale.required = rule.mode === "required";
    var min = rule.min_length || 0;
    els.rationaleLabel.textContent = rule.mode === "required"
      ? "Rationale (required" + (min ? ", at least " + min + " characters" : "") + ")"
      : "Rationale (optional" + (min ? "; if you write one, at least " + min + " characters" : "") + ")";
    updateCounter();
  }

  function updateCounter() {
    var schema = state.assignment && state.assignment.label_schema;
    if (!schema) return;
    var rule = schema.rationale || {mode: "optional", min_length: 0};
    var length = els.rationale.value.trim().length;
    var min = rule.min_length || 0;
    var needed = rule.mode === "required" ? Math.max(min, 1) : min;
    els.rationaleCounter.textContent = length + (needed ? " / " + needed : "") + " characters";
    var short = needed > 0 && length < needed && (rule.mode === "required" || length > 0);
    els.rationaleCounter.classList.toggle("short", short);
    els.rationaleCounter.classList.toggle("enough", needed > 0 && length >= needed);
  }

  function updateStrengthVisibility() {
    var schema = state.assignment && state.assignment.label_schema;
    if (!schema || schema.kind !== "pairwise") return;
    var choice = selectedValue("choice");
    var hasScale = !!(schema.strength && schema.strength.levels && schema.strength.levels.length);
    show(els.strengthField, hasScale && (choice === "A" || choice === "B"));
    if (hasScale && (choice === "A" || choice === "B")) {
      els.strengthField.querySelector("legend").textContent = "How much better is " + choice + "?";
    }
  }

  // --- Ranking by moving items -------------------------------------------------------------

  function rankingTiesAllowed(schema) {
    return !schema.ranking || schema.ranking.ties_allowed !== false;
  }

  function rankGroups() {
    var groups = [];
    state.ranking.forEach(function (entry, index) {
      if (entry.tied && index > 0) groups[groups.length - 1].push(entry.letter);
      else groups.push([entry.letter]);
    });
    return {groups: groups, missing: []};
  }

  function renderRanking(focusLetter) {
    var list = els.rankingList;
    var ties = rankingTiesAllowed(state.assignment.label_schema);
    list.textContent = "";
    var place = 0;
    state.ranking.forEach(function (entry, index) {
      if (!(entry.tied && index > 0)) place += 1;
      var letter = entry.letter;
      var item = el("li", {
        className: "ranking-item" + (entry.tied && index > 0 ? " tied" : ""), "data-letter": letter,
        tabindex: "-1", "aria-label": "Response " + letter + ", place " + place + (entry.tied && index > 0 ? ", tied with the one above" : "")
      }, [
        el("span", {className: "place", text: place + "."}),
        el("span", {className: "name", text: "Response " + letter}),
        el("button", {type: "button", className: "secondary", "data-move": "-1", tabindex: "-1", "aria-label": "Move " + letter + " up", text: "↑"}),
        el("button", {type: "button", className: "secondary", "data-move": "1", tabindex: "-1", "aria-label": "Move " + letter + " down", text: "↓"}),
        ties && index > 0 ? el("button", {type: "button", className: "secondary", "data-tie": "1", tabindex: "-1",
          "aria-pressed": entry.tied ? "true" : "false", "aria-label": "Tie " + letter + " with the one above", text: "="}) : null
      ]);
      list.appendChild(item);
      var badge = $("rank-badge-" + letter);
      if (badge) badge.textContent = "Place " + place;
    });
    // One tab stop for the whole list: the item last in focus, else the first.
    var current = list.querySelector('[data-letter="' + (focusLetter || state.rankingFocus || "") + '"]') || list.firstChild;
    if (current) current.setAttribute("tabindex", "0");
    if (focusLetter && current) focusInView(current);
    updateRankingSummary();
  }

  function rankingIndex(letter) {
    for (var i = 0; i < state.ranking.length; i++) if (state.ranking[i].letter === letter) return i;
    return -1;
  }

  function rankingMove(letter, to) {
    var from = rankingIndex(letter);
    if (from === -1) return;
    to = Math.max(0, Math.min(state.ranking.length - 1, to));
    var entry = state.ranking.splice(from, 1)[0];
    entry.tied = false;
    state.ranking.splice(to, 0, entry);
    if (state.ranking.length) state.ranking[0].tied = false;
    state.rankingTouched = true;
    state.rankingFocus = letter;
    renderRanking(letter);
  }

  function rankingTie(letter) {
    var index = rankingIndex(letter);
    if (index <= 0 || !rankingTiesAllowed(state.assignment.label_schema)) return;
    state.ranking[index].tied = !state.ranking[index].tied;
    state.rankingTouched = true;
    state.rankingFocus = letter;
    renderRanking(letter);
  }

  function rankingFocus(index) {
    var items = els.rankingList.children;
    if (!items.length) return;
    var item = items[Math.max(0, Math.min(items.length - 1, index))];
    Array.prototype.forEach.call(items, function (node) { node.setAttribute("tabindex", "-1"); });
    item.setAttribute("tabindex", "0");
    state.rankingFocus = item.dataset.letter;
    focusInView(item);
  }

  /* Focus without the browser's jump: the judgement bar is stuck in view on wide windows. */
  function focusInView(node) {
    node.focus({preventScroll: true});
    var box = node.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) node.scrollIntoView({block: "nearest"});
  }

  els.rankingList.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    var item = event.target.closest(".ranking-item");
    if (!button || !item) return;
    if (button.dataset.move) rankingMove(item.dataset.letter, rankingIndex(item.dataset.letter) + Number(button.dataset.move));
    else if (button.dataset.tie) rankingTie(item.dataset.letter);
  });

  function updateRankingSummary() {
    var groups = rankGroups().groups;
    els.rankingSummary.textContent = "Best first: " + groups.map(function (g) { return g.join(" = "); }).join("  >  ") +
      (state.rankingTouched ? "" : " (as shown: move the responses to rank them)");
  }

  function loadGuidelines(project) {
    els.guidelinesProject.textContent = project.name;
    if (state.guidelines[project.id] !== undefined) {
      els.guidelinesBody.innerHTML = state.guidelines[project.id];
      return;
    }
    els.guidelinesBody.textContent = "Loading the guidelines…";
    api(project.guidelines_url).then(function (result) {
      if (result.status !== 200 || !result.data) throw new Error(errorsOf(result)[0].message);
      // Sanitised server-side (Markdown without raw HTML, then nh3).
      var html = result.data.guidelines_html || "<p>This project has no written guidelines.</p>";
      state.guidelines[project.id] = html;
      if (state.assignment && state.assignment.project.id === project.id) els.guidelinesBody.innerHTML = html;
    }).catch(function (error) {
      els.guidelinesBody.textContent = "The guidelines could not be loaded: " + error.message;
    });
  }

  function render(assignment, received) {
    state.assignment = assignment;
    state.clientId = newClientId();
    state.activeMs = 0;
    state.lastInput = Date.now();
    state.leaseLost = false;
    // Keys start from the page again (a rationale box still in focus would swallow them).
    if (document.activeElement && els.workspace.contains(document.activeElement)) document.activeElement.blur();
    setExpiry(assignment.expires_at);
    closeSideForms();
    clearErrors(els.form);
    renderPrompt(assignment.prompt, assignment.prompt_html);
    renderResponses(assignment);
    renderAnswerFields(assignment.label_schema, assignment.responses.length);
    markCurrent(null);
    loadGuidelines(assignment.project);
    els.form.dataset.assignment = assignment.id;
    els.form.dataset.kind = assignment.label_schema.kind;
    var progress = $("exam-progress");
    if (progress && assignment.total) progress.textContent = "Question " + assignment.position + " of " + assignment.total;
    show(els.empty, false);
    show(els.loading, false);
    show(els.workspace, true);
    setSending(false);
    startHeartbeat(assignment.lease_seconds);
    if (received) window.scrollTo(0, 0);
  }

  // --- Lease, heartbeat, active time --------------------------------------------------------

  function setExpiry(expiresAt) {
    // Kept in the browser's clock so the countdown is right even if the clocks disagree.
    state.expiresAt = Date.parse(expiresAt) - state.clockSkew;
  }

  function startHeartbeat(leaseSeconds) {
    stopHeartbeat();
    if (!app.dataset.extendUrl) return;  // the exam page: nothing to extend
    state.lastHeartbeat = Date.now();
    var every = Math.max(5, (leaseSeconds || 900) / 3) * 1000;
    state.heartbeatTimer = setInterval(function () {
      if (stillWorking()) heartbeat();
    }, every);
    state.heartbeatEvery = every;
  }

  // A visible tab with input within the last lease length: someone is working. A tab left open
  // with nobody at it stops extending, so its lease lapses and the item goes to someone else.
  function stillWorking() {
    return document.visibilityState === "visible" && Date.now() - state.lastInput < state.heartbeatEvery * 3;
  }

  function stopHeartbeat() {
    if (state.heartbeatTimer) clearInterval(state.heartbeatTimer);
    state.heartbeatTimer = null;
  }

  function heartbeat() {
    var assignment = state.assignment;
    if (!assignment || state.leaseLost) return;
    state.lastHeartbeat = Date.now();
    api(urlFor("extend", assignment.id), {}).then(function (result) {
      if (state.assignment !== assignment) return;
      if (result.status === 200 && result.data) {
        setExpiry(result.data.expires_at);
      } else if (result.status === 409) {
        var error = errorsOf(result)[0];
        stopHeartbeat();
        if (error.code === "lease_expired") {
          // The server took the lease back; a submit is still accepted while nobody else
          // holds the item.
          state.leaseLost = true;
          say("Your lease on this item expired. You can still submit: it is accepted if nobody else has taken the item.", "warning");
        } else {
          say(error.message + " Loading the next item…", "warning");
          loadNext();
        }
      } else if (result.status === 404) {
        stopHeartbeat();
        say("This assignment no longer exists. Loading the next item…", "warning");
        loadNext();
      }
    }).catch(function () { /* offline for a moment: the next beat tries again */ });
  }

  document.addEventListener("visibilitychange", function () {
    state.lastTick = Date.now();
    if (stillWorking() && state.assignment && state.heartbeatTimer &&
        Date.now() - state.lastHeartbeat >= state.heartbeatEvery) {
      heartbeat();
    }
  });

  ["keydown", "mousedown", "mousemove", "wheel", "touchstart", "scroll", "input"].forEach(function (type) {
    document.addEventListener(type, function () { state.lastInput = Date.now(); }, {capture: true, passive: true});
  });

  function tick() {
    var now = Date.now();
    var elapsed = Math.min(now - state.lastTick, 5000);
    state.lastTick = now;
    if (!state.assignment) return;
    var hasLease = !!state.assignment.expires_at;
    // Active time: the tab is visible and the expert touched something in the last minute.
    if (document.visibilityState === "visible" && now - state.lastInput < IDLE_AFTER_MS) state.activeMs += elapsed;
    show(els.active, true);
    els.active.textContent = "Active " + formatSeconds(state.activeMs / 1000);
    var left = (state.expiresAt - now) / 1000;
    show(els.lease, hasLease);
    if (left > 0 && !state.leaseLost) {
      els.lease.textContent = "Lease: " + formatSeconds(left) + " left";
      els.lease.className = "lease" + (left < 60 ? " lease-short" : "");
    } else {
      els.lease.textContent = "Lease expired: submit soon";
      els.lease.className = "lease lease-over";
    }
  }
  setInterval(tick, 1000);

  // --- The queue ----------------------------------------------------------------------------

  function selectedProject() {
    return els.projectSelect ? els.projectSelect.value : app.dataset.project;
  }

  /* note: what just happened ("Saved."), said once the page knows what comes next: "... Here is
     the next item.", or the note alone when the queue is empty, or nothing at the end of an exam
     (its result is the message then). */
  var waitTimer = null;  // a queue that said "wait" (Retry-After) is asked again by itself

  function loadNext(note, tone) {
    clearTimeout(waitTimer);
    stopHeartbeat();
    state.assignment = null;
    // Focus must not stay in the workspace being hidden (the rationale after Ctrl+Enter): keys
    // typed there go nowhere, and u (undo) would be taken for typing until the browser moves it.
    if (els.workspace.contains(document.activeElement)) document.activeElement.blur();
    show(els.workspace, false);
    show(els.empty, false);
    show(els.lease, false);
    show(els.active, false);
    show(els.loading, true);
    var project = selectedProject();
    var asked = app.dataset.nextMethod === "GET"
      ? api(app.dataset.nextUrl)
      : api(app.dataset.nextUrl, project ? {project: project} : {});
    return asked.then(function (result) {
      show(els.loading, false);
      if (result.status === 200 && result.data) {
        if (note) say(note + " Here is the next " + (app.dataset.nextMethod === "GET" ? "question." : "item."), tone);
        render(result.data, true);
      } else if (result.status === 204) {
        if (note) say(app.dataset.nextMethod === "GET" ? "" : note, tone);
        showEmpty(headerText(result.headers.get("Queue-Reason-Message")) || "Nothing to label right now.",
          result.headers.get("Queue-Reason") || "");
        var wait = parseInt(result.headers.get("Retry-After") || "", 10);
        if (wait > 0) waitTimer = setTimeout(function () { loadNext(); }, wait * 1000);
      } else {
        showEmpty(errorsOf(result)[0].message, "error");
      }
    }).catch(function () {
      show(els.loading, false);
      showEmpty("Could not reach the server. Check your connection and try again.", "offline");
    });
  }

  function showEmpty(message, reason) {
    els.emptyMessage.textContent = message;
    var hints = {
      queue_empty: "New items arrive as labs upload them; check again in a while.",
      waiting_for_quality: "This page checks again by itself.",
      waiting_for_leases: "This page checks again by itself.",
      reserved_for_senior: "This page checks again by itself.",
      needs_other_experts: "New items arrive as labs upload them; check again in a while, or label in another project.",
      no_eligible_project: "Projects open to you once staff approve a credential in their domain.",
      no_credential: "Submit a credential in this project's domain from your profile.",
      suspended: "Contact the platform staff if you think this is a mistake.",
      suspended_in_project: ["See why, and appeal, under ", {href: "/suspensions/", text: "Suspensions"}, "."],
      not_qualified: ["Take it under ", {href: "/exams/", text: "Exams"}, "."],
      qualification_unavailable: ["Check ", {href: "/exams/", text: "Exams"}, " again later, or label in another project."]
    };
    var hint = hints[reason];
    els.emptyHint.textContent = "";
    (Array.isArray(hint) ? hint : [hint || ""]).forEach(function (part) {
      els.emptyHint.appendChild(
        typeof part === "string" ? document.createTextNode(part) : el("a", {href: part.href, text: part.text})
      );
    });
    show(els.emptyHint, !!hint);
    els.empty.dataset.reason = reason;
    show(els.empty, true);
  }

  // --- Submitting -----------------------------------------------------------------------------

  function selectedValue(name) {
    var checked = els.form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : null;
  }

  function collect() {
    var schema = state.assignment.label_schema;
    var payload = {client_id: state.clientId};
    if (schema.kind === "pairwise") {
      payload.choice = selectedValue("choice");
      if (!els.strengthField.hidden) {
        var strength = selectedValue("strength");
        payload.strength = strength === null ? null : Number(strength);
      }
    } else {
      payload.ranking = rankGroups().groups;
    }
    if ((schema.criteria || []).length) {
      payload.criteria = {};
      state.assignment.responses.forEach(function (response) {
        var ratings = {};
        els.form.querySelectorAll('input[data-letter="' + response.label + '"]:checked').forEach(function (input) {
          ratings[input.dataset.key] = Number(input.value);
        });
        payload.criteria[response.label] = ratings;
      });
    }
    if (!schema.rationale || schema.rationale.mode !== "off") payload.rationale = els.rationale.value;
    payload.active_seconds = Math.round(state.activeMs / 100) / 10;
    return payload;
  }

  /* The server checks everything; only two of its messages are reworded, where the browser
     knows the plainer reason (nothing chosen, a response left unranked). */
  function friendlier(errors, payload) {
    return errors.map(function (error) {
      if (error.field === "choice" && !payload.choice) {
        return {field: "choice", code: error.code, message: "Choose an answer (keys a, b, t, x)."};
      }
      return error;
    });
  }

  function setSending(sending) {
    state.sending = sending;
    els.submit.disabled = sending;
    els.submit.firstChild.nodeValue = sending ? "Submitting… " : "Submit ";
    els.skipOpen.disabled = sending;
    els.reportOpen.disabled = sending;
  }

  function submitLabel() {
    var assignment = state.assignment;
    if (!assignment || state.sending) return;
    clearErrors(els.form);
    if (assignment.label_schema.kind === "ranking" && !state.rankingTouched && !state.rankingConfirm) {
      state.rankingConfirm = true;
      showErrors(els.form, [{field: "ranking", code: "unchanged",
        message: "You have not moved any response: submit again to keep the order as shown."}]);
      return;
    }
    var payload = collect();
    setSending(true);
    api(urlFor("submit", assignment.id), payload).then(function (result) {
      if (state.assignment !== assignment) return;
      if (result.status === 201 || result.status === 200) {
        state.submitted += 1;
        els.sessionCount.textContent = state.submitted + " labelled in this session";
        show(els.sessionCount, true);
        undoOffer(assignment.id);
        // The counts of today (js/earnings_live.js) are read again.
        document.dispatchEvent(new CustomEvent("rlhf:labelled"));
        return loadNext("Saved.", "success");
      }
      var errors = errorsOf(result);
      var code = errors[0].code;
      if (result.status === 400) {
        setSending(false);
        showErrors(els.form, friendlier(errors, payload));
      } else if (result.status === 409 && code === "lease_expired") {
        return loadNext("Your lease expired and another expert now holds this item, so your label was not needed.", "warning");
      } else if (result.status === 409 && code === "already_submitted") {
        return loadNext("This item was already submitted.", "success");
      } else if ((result.status === 409 && code === "assignment_closed") || result.status === 404) {
        return loadNext(errors[0].message, "warning");
      } else {
        setSending(false);
        showErrors(els.form, errors);
      }
    }).catch(function () {
      if (state.assignment !== assignment) return;
      setSending(false);
      // The same client_id goes with the retry: if the first attempt did arrive, the server
      // answers with that label instead of making a second one.
      showErrors(els.form, [{field: null, code: "offline", message: "Could not reach the server. Your answer is still here: press Submit to try again."}]);
    });
  }

  // --- Skip and report ----------------------------------------------------------------------

  function closeSideForms() {
    [els.skipForm, els.reportForm].forEach(function (form) {
      clearErrors(form);
      form.reset();
      show(form, false);
    });
  }

  function openSideForm(form, focus) {
    closeSideForms();
    show(form, true);
    form.scrollIntoView({block: "nearest"});
    focus.focus();
  }

  function sideAction(form, kind, body, done) {
    var assignment = state.assignment;
    if (!assignment || state.sending) return;
    clearErrors(form);
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    setSending(true);
    api(urlFor(kind, assignment.id), body).then(function (result) {
      button.disabled = false;
      if (result.status === 204 || result.status === 201) return loadNext(done, "success");
      setSending(false);
      var errors = errorsOf(result);
      if (result.status === 409 || result.status === 404) return loadNext(errors[0].message, "warning");
      showErrors(form, errors);
    }).catch(function () {
      button.disabled = false;
      setSending(false);
      showErrors(form, [{field: null, code: "offline", message: "Could not reach the server; try again."}]);
    });
  }

  els.skipOpen.addEventListener("click", function () { openSideForm(els.skipForm, $("skip-reason")); });
  els.reportOpen.addEventListener("click", function () { openSideForm(els.reportForm, $("report-reason")); });
  [els.skipForm, els.reportForm].forEach(function (form) {
    form.querySelector("[data-close]").addEventListener("click", closeSideForms);
  });
  els.skipForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var reason = $("skip-reason").value.trim();
    if (!reason) {
      clearErrors(els.skipForm);
      showErrors(els.skipForm, [{field: "reason", code: "required", message: "Say why you skip (e.g. “Outside my expertise”)."}]);
      return;
    }
    sideAction(els.skipForm, "skip", {reason: reason}, "Skipped.");
  });
  els.reportForm.addEventListener("submit", function (event) {
    event.preventDefault();
    sideAction(els.reportForm, "report", {reason: $("report-reason").value, details: $("report-details").value},
      "Thank you: the problem is reported.");
  });

  // --- Wiring -------------------------------------------------------------------------------

  els.form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitLabel();
  });
  els.form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "choice") updateStrengthVisibility();
    var row = target.closest(".criterion, fieldset, .response");
    if (row && row.classList.contains("has-error") && row.matches(".criterion, fieldset")) {
      row.classList.remove("has-error");
      row.querySelectorAll("[data-errors-for]").forEach(function (list) { list.textContent = ""; });
    }
  });
  els.rationale.addEventListener("input", updateCounter);
  els.retry.addEventListener("click", function () { say(""); loadNext(); });
  if (els.projectSelect) {
    var wanted = app.dataset.project;
    if (wanted && !Array.prototype.some.call(els.projectSelect.options, function (o) { return o.value === wanted; })) {
      // A project not (or no longer) open to this expert: ask anyway, the queue says why.
      els.projectSelect.appendChild(el("option", {value: wanted, text: app.dataset.projectName || "Unknown project"}));
    }
    els.projectSelect.value = wanted || "";
    els.projectSelect.addEventListener("change", function () {
      var url = new URL(window.location.href);
      if (els.projectSelect.value) url.searchParams.set("project", els.projectSelect.value);
      else url.searchParams.delete("project");
      window.history.replaceState(null, "", url.toString());
      say("");
      loadNext();
    });
  }

  // --- Guidelines drawer and the list of keys -----------------------------------------------

  var DRAWER_KEY = "label.guidelinesOpen";

  function setDrawer(open) {
    show(els.guidelines, open);
    app.classList.toggle("drawer-open", open);
    els.guidelinesToggle.setAttribute("aria-expanded", open ? "true" : "false");
    try { window.localStorage.setItem(DRAWER_KEY, open ? "1" : "0"); } catch (e) { /* ignore */ }
  }
  els.guidelinesToggle.addEventListener("click", function () { setDrawer(els.guidelines.hidden); });
  els.guidelinesClose.addEventListener("click", function () { setDrawer(false); els.guidelinesToggle.focus(); });
  try { if (window.localStorage.getItem(DRAWER_KEY) === "1") setDrawer(true); } catch (e) { /* ignore */ }

  function setShortcuts(open) {
    show(els.shortcuts, open);
    els.shortcutsToggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) els.shortcuts.scrollIntoView({block: "nearest"});
  }
  els.shortcutsToggle.addEventListener("click", function () { setShortcuts(els.shortcuts.hidden); });

  function keys() {
    return Array.prototype.map.call(arguments, function (key) { return el("kbd", {text: key}); });
  }

  /* Only the keys this item's schema uses: a ranking has no A/B keys, a project without a
     strength scale no strength digits. */
  function renderShortcuts(schema, count) {
    var rows = [];
    if (schema.kind === "pairwise") {
      (schema.choices || ["A", "B"]).forEach(function (choice) {
        var info = CHOICES[choice];
        if (info) rows.push([keys(info.key), info.text]);
      });
      var levels = (schema.strength && schema.strength.levels) || [];
      if (levels.length) rows.push([keys("1", "…", String(levels.length)), "How much better (after A or B)"]);
    } else {
      rows.push([keys("o"), "Go to the ranking"]);
      rows.push([keys("↑", "↓"), "Pick a response in the ranking (also k / j)"]);
      rows.push([keys("Alt", "↑", "Alt", "↓"), "Move the picked response up / down"]);
      rows.push([keys("1", "…", String(count)), "Move the picked response to that place"]);
      if (rankingTiesAllowed(schema)) rows.push([keys("="), "Tie the picked response with the one above (again: untie)"]);
    }
    if ((schema.criteria || []).length) {
      rows.push([keys("Tab"), "Next field (each criterion of each response in turn)"]);
      rows.push([keys("1", "…", "5"), "Rate the marked criterion; the mark then moves on"]);
    }
    if (!schema.rationale || schema.rationale.mode !== "off") rows.push([keys("r"), "Write the rationale (Esc leaves it)"]);
    rows.push([keys("Ctrl", "Enter"), "Submit"]);
    rows.push([keys("g"), "Open or close the guidelines"]);
    rows.push([keys("s"), "Scroll the responses together, or not"]);
    rows.push([keys("?"), "Show or hide this list"]);
    if ($("undo-last")) rows.push([keys("u"), "Undo the last label: reopen it, filled in, to correct it"]);
    if (app.dataset.skipUrl) rows.push([keys("Esc"), "Close the skip or report form"]);
    els.shortcutList.textContent = "";
    rows.forEach(function (row) {
      els.shortcutList.appendChild(el("dt", null, row[0]));
      els.shortcutList.appendChild(el("dd", {text: row[1]}));
    });
  }

  // --- Keyboard -------------------------------------------------------------------------------

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "radio" && target.type !== "checkbox") ||
      (target && target.isContentEditable);
  }

  /* The fields digits answer, in order: the strength scale (when shown), then every criterion
     of every response. Each is a radio group. */
  function digitFields() {
    var fields = [];
    if (!els.strengthField.hidden) fields.push(els.strengthField);
    els.responses.querySelectorAll(".criterion").forEach(function (row) { fields.push(row); });
    return fields;
  }

  function answered(field) { return !!field.querySelector("input[type=radio]:checked"); }

  function markCurrent(field) {
    els.form.querySelectorAll(".current").forEach(function (node) { if (node !== field) node.classList.remove("current"); });
    if (field) field.classList.add("current");
  }

  function focusField(field) {
    if (!field) return;
    var input = field.querySelector("input[type=radio]:checked") || field.querySelector("input[type=radio]");
    markCurrent(field);
    if (input) input.focus({preventScroll: true});
    reveal(field);
  }

  /* Bring a field into view, and out from under the judgement bar stuck to the window's bottom
     (the browser only scrolls to a focused element it considers hidden, and the bar does not
     count). */
  function reveal(node) {
    var bar = document.getElementById("answer-bar");
    if (!node || bar.contains(node)) return;
    var box = node.getBoundingClientRect();
    var sticky = window.getComputedStyle(bar).position === "sticky";
    var bottom = sticky ? bar.getBoundingClientRect().top : window.innerHeight;
    if (box.bottom > bottom - 8) window.scrollBy(0, box.bottom - bottom + 24);
    else if (box.top < 8) window.scrollBy(0, box.top - 24);
  }

  function nextUnanswered(after) {
    var fields = digitFields();
    var start = after ? fields.indexOf(after) + 1 : 0;
    for (var i = start; i < fields.length; i++) if (!answered(fields[i])) return fields[i];
    return null;
  }

  function fieldOf(target) {
    if (!target || !target.closest) return null;
    return target.closest(".criterion") || (els.strengthField.contains(target) ? els.strengthField : null);
  }

  function pick(input) {
    input.checked = true;
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }

  els.form.addEventListener("focusin", function (event) {
    var field = fieldOf(event.target) || event.target.closest(".key-field");
    if (field) markCurrent(field);
  });

  function rankingKey(event, item) {
    var letter = item.dataset.letter;
    var index = rankingIndex(letter);
    var key = event.key;
    if (event.altKey && (key === "ArrowUp" || key === "ArrowDown")) {
      rankingMove(letter, index + (key === "ArrowUp" ? -1 : 1));
    } else if (!event.altKey && (key === "ArrowUp" || key === "k")) {
      rankingFocus(index - 1);
    } else if (!event.altKey && (key === "ArrowDown" || key === "j")) {
      rankingFocus(index + 1);
    } else if (key === "Home") {
      rankingFocus(0);
    } else if (key === "End") {
      rankingFocus(state.ranking.length - 1);
    } else if (/^[1-9]$/.test(key) && Number(key) <= state.ranking.length) {
      rankingMove(letter, Number(key) - 1);
    } else if (key === "=") {
      rankingTie(letter);
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && (!els.skipForm.hidden || !els.reportForm.hidden)) {
      closeSideForms();
      return;
    }
    if (!state.assignment || els.workspace.hidden || event.isComposing) return;
    var target = event.target;
    var inSideForm = els.skipForm.contains(target) || els.reportForm.contains(target);
    var schema = state.assignment.label_schema;
    if (event.key === "Enter") {
      if ((event.ctrlKey || event.metaKey) && !inSideForm) {
        event.preventDefault();
        submitLabel();
      } else if (target.type === "radio" || target.classList.contains("ranking-item")) {
        event.preventDefault();  // Enter on a choice never submits half a label
      }
      return;
    }
    if (target === els.rationale && event.key === "Escape") {
      event.preventDefault();
      els.rationale.blur();
      focusField(nextUnanswered() || (schema.kind === "pairwise" ? els.choiceField : null));
      if (schema.kind !== "pairwise" && !nextUnanswered()) rankingFocus(rankingIndex(state.rankingFocus || ""));
      return;
    }
    if (typing(target) || event.ctrlKey || event.metaKey || inSideForm) return;
    if (target.classList && target.classList.contains("ranking-item") && rankingKey(event, target)) return;
    if (event.altKey) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;

    if (/^[1-9]$/.test(key)) {
      var field = fieldOf(target);
      if (!field || answered(field) && target.type !== "radio") field = nextUnanswered() || field;
      if (!field) return;
      var input = field.querySelector('input[type=radio][value="' + key + '"]');
      if (!input) return;
      event.preventDefault();
      pick(input);
      // Answered: on to the next field still open (the strength field may just have appeared).
      var next = nextUnanswered(field);
      if (next) focusField(next);
      else { input.focus(); markCurrent(field); }
      return;
    }
    if (schema.kind === "pairwise") {
      var choice = {"a": "A", "b": "B", "t": "tie", "x": "both_bad"}[key];
      var choiceInput = choice && $("choice-" + choice);
      if (choiceInput) {
        event.preventDefault();
        pick(choiceInput);
        var open = nextUnanswered();
        if (open) focusField(open);
        else { choiceInput.focus(); markCurrent(els.choiceField); }
        return;
      }
    } else if (key === "o") {
      event.preventDefault();
      rankingFocus(Math.max(0, rankingIndex(state.rankingFocus || "")));
      return;
    }
    var actions = {
      r: function () { if (!els.rationaleField.hidden) els.rationale.focus(); },
      g: function () { setDrawer(els.guidelines.hidden); },
      s: function () { els.syncScroll.checked = !els.syncScroll.checked; els.syncScroll.dispatchEvent(new Event("change")); },
      "?": function () { setShortcuts(els.shortcuts.hidden); }
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  });

  // --- Undo: the last label reopened for correction (/me/labels/<assignment>/, key u) --------

  var undoLink = $("undo-last");

  function undoOffer(assignmentId) {
    if (!undoLink || !app.dataset.correctUrl) return;
    var back = window.location.pathname + window.location.search;
    undoLink.href = urlFor("correct", assignmentId) + "?next=" + encodeURIComponent(back);
    show(undoLink, true);
  }

  document.addEventListener("keydown", function (event) {
    if (!undoLink || undoLink.hidden || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key !== "u" && event.key !== "U") return;
    if (typing(event.target) || !els.skipForm.hidden || !els.reportForm.hidden) return;
    event.preventDefault();
    window.location.assign(undoLink.href);
  });

  loadNext();
})();
