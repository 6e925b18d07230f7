/*
 * The card page's lookup counter (portal/lookup_counter.py): fetched, never cached, and
 * shown in #lookup-checks, so that the cached card page stays the same for everyone.
 * The server sends its sentences in the page's language.
 */
(function (root) {
  "use strict";

  async function show(panel) {
    var response = await root.fetch(panel.getAttribute("data-url"), {
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) return;
    var counter = await response.json();
    panel.querySelector(".checks-text").textContent = counter.text;
    var warning = panel.querySelector(".checks-warning");
    if (counter.warning) {
      warning.textContent = counter.warning;
      warning.hidden = false;
    }
    panel.setAttribute("data-count", String(counter.count));
    panel.hidden = false;
  }

  function wire(doc) {
    var panel = doc.getElementById("lookup-checks");
    if (panel) show(panel);
  }

  if (root.document.readyState === "loading") {
    root.document.addEventListener("DOMContentLoaded", function () { wire(root.document); });
  } else {
    wire(root.document);
  }
})(window);
