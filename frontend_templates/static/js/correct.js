/* The correction form of one's own label (/me/labels/<assignment>/): the labelling page's keys.
   a b t x pick the choice, a digit the strength (pairwise), Ctrl+Enter saves. The form works
   without this script. */
(function () {
  "use strict";
  var form = document.getElementById("correct");
  if (!form) return;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "radio" && target.type !== "checkbox");
  }

  function pick(name, value) {
    var input = form.querySelector('input[type=radio][name="' + name + '"][value="' + value + '"]');
    if (!input) return false;
    input.checked = true;
    input.focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.isComposing || event.altKey) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || typing(event.target)) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var choice = {"a": "A", "b": "B", "t": "tie", "x": "both_bad"}[key];
    if ((choice && pick("choice", choice)) || (/^[1-9]$/.test(key) && pick("strength", key))) {
      event.preventDefault();
    }
  });
})();
