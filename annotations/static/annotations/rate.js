// The rater's page: countdown, client-side timing and keyboard answers.
// The deadline that counts is the server's; the countdown only shows it. Timing uses
// performance.now(), which a changed system clock does not move.
(function () {
  "use strict";
  let task = null;  // the item on screen: {form, shownAt, hiddenMs, hiddenSince, timer}

  function start(root) {
    const stage = root.querySelector ? (root.id === "stage" ? root : root.querySelector("#stage")) : null;
    if (task && task.timer) clearInterval(task.timer);
    task = null;
    if (!stage) return;
    const form = stage.querySelector("form.answer");
    const countdown = stage.querySelector("[data-testid=countdown]");
    if (!form || !countdown) return;
    const loadedAt = performance.now();
    const remainingMs = Number(countdown.dataset.remainingMs);
    const graceMs = Number(countdown.dataset.graceMs);
    task = {form: form, shownAt: null, hiddenMs: 0, hiddenSince: null, timer: null};
    // the solution becomes visible at the first frame painted, once typeset (math.js ran
    // before this) and its fonts have loaded, while the tab is visible
    document.fonts.ready.then(function () {
      requestAnimationFrame(function () {
        if (task && task.form === form) markShown();
      });
    });
    function tick() {
      // the countdown runs from the moment the solution is visible (until then, from load)
      const from = task && task.form === form && task.shownAt !== null ? task.shownAt : loadedAt;
      const left = remainingMs - (performance.now() - from);
      countdown.textContent = Math.max(0, Math.ceil(left / 1000));
      countdown.classList.toggle("low", left <= 10000);
      if (left <= 0) stage.classList.add("time-up");
      if (left <= -graceMs) send(null);  // the grace is over: record the timeout
    }
    tick();
    task.timer = setInterval(tick, 200);
    stage.dataset.ready = "1";  // the page answers keys from now on
  }

  function markShown() {
    if (task.shownAt === null && document.visibilityState === "visible") {
      task.shownAt = performance.now();
    }
  }

  function fillTiming(form) {
    if (!task || task.form !== form) return;
    const now = performance.now();
    let hidden = task.hiddenMs;
    if (task.hiddenSince !== null) hidden += now - task.hiddenSince;
    if (task.shownAt !== null) form.elements.client_ms.value = Math.round(now - task.shownAt);
    form.elements.hidden_ms.value = Math.round(hidden);
  }

  // Answer by key, or record the timeout (no verdict) when the grace is over.
  function send(verdict) {
    if (!task || task.form.dataset.sent) return;
    // a click, not requestSubmit(button): htmx takes the verdict from the button clicked
    if (verdict) task.form.querySelector("[data-verdict=" + verdict + "]").click();
    else if (task.form.requestSubmit) task.form.requestSubmit();
    else task.form.submit();
  }

  // Capture phase: runs before htmx reads the form, so the timing goes with the answer, and a
  // second submit of the same item (double click, key and click) goes nowhere.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("form.answer")) return;
    if (form.dataset.sent) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    fillTiming(form);
    form.dataset.sent = "1";
    if (task && task.form === form) clearInterval(task.timer);
    // disabled after htmx has read the submitter's value, not before
    setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }, 0);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const form = document.querySelector("#stage form.answer");
    if (!form || form.dataset.sent) return;
    if (!task || task.form !== form) start(document);  // a key faster than htmx's settle
    const key = event.key;
    if (key === "c" || key === "C" || key === "ArrowLeft") { event.preventDefault(); send("correct"); }
    else if (key === "i" || key === "I" || key === "ArrowRight") { event.preventDefault(); send("incorrect"); }
  });

  document.addEventListener("visibilitychange", function () {
    if (!task) return;
    if (document.visibilityState === "hidden") {
      task.hiddenSince = performance.now();
    } else {
      if (task.hiddenSince !== null) task.hiddenMs += performance.now() - task.hiddenSince;
      task.hiddenSince = null;
      markShown();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { start(document); });
  document.addEventListener("htmx:load", function (event) { start(event.detail.elt); });
})();
