/* Math typesetting, shared by every page that shows rendered content: each
   <span class="math inline"> / <div class="math block"> that annotate/rendering.py left inside a
   .rendered block is typeset with the vendored KaTeX. katex.render builds DOM nodes (no inline
   style attribute, which the policy refuses); TeX that KaTeX cannot read stays as it was written,
   marked. Without KaTeX the TeX stays readable. Server-rendered pages are typeset on load; the
   labelling page (label.js) calls window.rlhfTypeset on each block it renders. */
(function () {
  "use strict";

  function typeset(root) {
    if (!window.katex) return;
    root.querySelectorAll(".math").forEach(function (node) {
      var tex = node.textContent;
      try {
        window.katex.render(tex, node, {
          displayMode: node.classList.contains("block"), throwOnError: true, output: "htmlAndMathml"
        });
      } catch (e) {
        node.textContent = tex;
        node.classList.add("math-error");
        node.title = String((e && e.message) || e);
      }
    });
  }

  window.rlhfTypeset = typeset;
  document.querySelectorAll(".rendered").forEach(typeset);
})();
