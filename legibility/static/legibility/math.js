// Typesets the LaTeX in problems and solutions with KaTeX, served from our own static files.
//
// Formulas: $$…$$ and \[…\] are shown as displays, \(…\) and $…$ inline. A single dollar opens a
// formula only when a non-space follows it, and closes one only when a non-space precedes it
// and no digit follows (Pandoc's rule), so "$5 and $7" stays text; nor do a price before a
// GSM8K calculator annotation ("4*4=$<<4*4=16>>16") and a dollar after a number ("20$, ..."). Text outside formulas stays
// text, line breaks and all. A formula KaTeX cannot parse keeps its source, and the rest still
// renders. Hostile input cannot reach the page as markup: the text arrives escaped, KaTeX runs
// with trust off (no \href, \url, \htmlClass, \includegraphics), sizes and macro expansion are
// capped, and a block typesets at most MAX_FORMULAS formulas of at most MAX_FORMULA_CHARS each
// (the rest stays source).
//
// Elements marked data-math are typeset when the page loads and when htmx swaps them in; the
// time each block took is recorded as a "typeset" performance measure.
(function () {
  "use strict";
  const MAX_FORMULAS = 1500;
  const MAX_FORMULA_CHARS = 4000;
  const OPTIONS = {
    throwOnError: true, trust: false, strict: "ignore", maxSize: 20, maxExpand: 500,
  };
  // display: $$…$$, \[…\], \begin{align*}…\end{align*} and its kin; inline: \(…\), $…$
  // (Pandoc's rule)
  // Every formula is at most MAX_FORMULA_CHARS long, in the pattern itself: a search from an
  // unclosed delimiter stops there instead of running to the end (a solution of thousands of
  // unclosed "\(" would otherwise cost time growing with its square).
  const FORMULA = new RegExp(
    String.raw`(\\begin\{(equation|align|alignat|gather|multline|eqnarray)(\*?)\}[\s\S]{1,${MAX_FORMULA_CHARS}}?\\end\{\2\3\})|` +
    String.raw`\$\$([\s\S]{1,${MAX_FORMULA_CHARS}}?)\$\$` +
    String.raw`|\\\[([\s\S]{1,${MAX_FORMULA_CHARS}}?)\\\]` +
    String.raw`|\\\(([\s\S]{1,${MAX_FORMULA_CHARS}}?)\\\)` +
    String.raw`|(?<![\\$\d])\$(?=[^\s$])((?:\\.|[^$\\\n]){0,${MAX_FORMULA_CHARS}}?[^\s\\])\$(?![\d<])`,
    "g"
  );
  const SKIPPED = "code, pre, script, style, textarea, .katex";

  // The formulas of a text, in order: {start, end, tex, display}.
  function find(text) {
    const found = [];
    FORMULA.lastIndex = 0;
    let match;
    while ((match = FORMULA.exec(text)) !== null) {
      // groups: 1 an environment (2, 3 its name and star), 4 $$, 5 \[, 6 \(, 7 $
      const tex = match[1] ?? match[4] ?? match[5] ?? match[6] ?? match[7];
      found.push({
        start: match.index, end: match.index + match[0].length, tex: tex,
        display: match[6] === undefined && match[7] === undefined,
      });
    }
    return found;
  }

  function formulaNode(formula, source) {
    const node = document.createElement("span");
    if (formula.tex.length <= MAX_FORMULA_CHARS) {
      try {
        window.katex.render(formula.tex, node, Object.assign({displayMode: formula.display}, OPTIONS));
        node.className = formula.display ? "math math-display" : "math";
        return node;
      } catch (error) {
        node.title = "This formula could not be typeset: " + (error.message || error);
      }
    }
    node.className = "math-source";
    node.textContent = source;
    return node;
  }

  // A text outside formulas, with LaTeX's escaped dollar shown as a dollar.
  function plain(text) {
    return document.createTextNode(text.replace(/\\\$/g, "$"));
  }

  // Replace one text node by text and typeset formulas; return the formulas left to typeset.
  function typesetText(node, budget) {
    const text = node.nodeValue;
    const formulas = find(text).slice(0, Math.max(0, budget));
    if (!formulas.length) {
      if (text.includes("\\$")) node.replaceWith(plain(text));
      return budget;
    }
    const parts = document.createDocumentFragment();
    let last = 0;
    for (const formula of formulas) {
      let before = text.slice(last, formula.start);
      let end = formula.end;
      if (formula.display) {
        // a display is a block of its own: the line breaks around it would add blank lines
        before = before.replace(/\n[ \t]*$/, "");
        end += (text.slice(end).match(/^[ \t]*\n/) || [""])[0].length;
      }
      parts.append(plain(before));
      parts.append(formulaNode(formula, text.slice(formula.start, formula.end)));
      last = end;
    }
    parts.append(plain(text.slice(last)));
    node.replaceWith(parts);
    return budget - formulas.length;
  }

  function typesetBlock(block) {
    if (block.dataset.typeset || !window.katex) return;
    const started = performance.now();
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        return node.parentElement.closest(SKIPPED) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      },
    });
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    let budget = MAX_FORMULAS;
    for (const node of nodes) budget = typesetText(node, budget);
    block.dataset.typeset = "1";
    performance.measure("typeset", {start: started, end: performance.now()});
  }

  function typeset(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-math]")) typesetBlock(root);
    root.querySelectorAll("[data-math]").forEach(typesetBlock);
  }

  window.legibilityMath = {find: find, typeset: typeset};
  // registered before rate.js's handlers (this script comes first): the countdown starts on
  // typeset text
  document.addEventListener("DOMContentLoaded", function () { typeset(document); });
  document.addEventListener("htmx:load", function (event) { typeset(event.detail.elt); });
})();
