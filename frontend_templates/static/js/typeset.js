/* Math on server-rendered pages (the staff item page, quality/_item_content.html): each
   <span class="math inline"> / <div class="math block"> that annotate/rendering.py left inside a
   .rendered block is typeset with the vendored KaTeX, as label.js does on the labelling page.
   katex.render builds DOM nodes (no inline style attribute, which the policy refuses); TeX that
   KaTeX cannot read stays as it was written, marked. Without KaTeX the TeX stays readable. */
(function () {
  "use strict";
  if (!window.katex) return;
  document.querySelectorAll(".rendered .math").forEach(function (node) {
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
})();
