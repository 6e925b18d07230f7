/*
 * The serial lookup's check in the browser (portal/templates/public/serial.html): for
 * each handover of the serial that the latest anchored checkpoint covers, recompute the
 * event's leaf hash and its inclusion proof up to the checkpoint root, ask the chain
 * (the pinned contract, else the checkpoint's) whether that root is anchored at that
 * tree size, and check that the event is a PICKUP_COMPLETED listing this serial.
 * Uses verify.js's functions (window.CardTrailVerify); its words come from the page's
 * <template id="serial-words">, already in the page's language. Under Node it exports
 * checkHandover (tests/portal/run_serial_js.js).
 */
(function (root) {
  "use strict";

  var V = root.CardTrailVerify ||
    (typeof require === "function" ? require("./verify.js") : null);
  var encoder = new TextEncoder();

  function word(panel, key) {
    var node = panel.querySelector("#serial-words").content.querySelector('[data-word="' + key + '"]');
    return node ? node.textContent : key;
  }

  /** Why the handover `item` does not hold up, or null when it does. */
  async function checkHandover(item, serial, checkpoint, anchoredRoot) {
    var event = item.event || {};
    if (event.type !== "PICKUP_COMPLETED") return "event type " + event.type;
    if (event.leaf_index !== item.leaf_index) return "leaf index differs from the event's";
    var serials = (event.data && event.data.serials) || [];
    if (serials.indexOf(serial) < 0) return "the event does not list this serial";
    var leafHash = await V.hashLeaf(encoder.encode(V.canonicalize(event)));
    try {
      await V.verifyInclusion(item.leaf_index, checkpoint.tree_size, leafHash,
                              item.inclusion_proof, checkpoint.root);
    } catch (err) {
      return err.message;
    }
    if (anchoredRoot !== checkpoint.root) return "the chain holds another root at this size";
    return null;
  }

  async function run(panel) {
    var doc = JSON.parse(panel.querySelector("#serial-document").textContent);
    var serial = panel.getAttribute("data-serial");
    var verdict = panel.querySelector("#serial-verdict");
    var checkpoint = doc.checkpoint;
    var failed = false;
    var checked = 0;
    var anchoredRoot = null;
    var chainError = null;
    if (checkpoint) {
      var pinnedContract = panel.getAttribute("data-pinned-contract");
      var pinnedChain = panel.getAttribute("data-pinned-chain-id");
      var rpcUrl = panel.querySelector("#serial-rpc-url").value;
      var client = V.chainClient(rpcUrl, pinnedContract || checkpoint.contract,
                                 { rootAt: panel.getAttribute("data-root-at-selector") });
      try {
        if (pinnedChain && (await client.chainId()) !== Number(pinnedChain)) {
          throw new Error("the RPC endpoint serves another chain");
        }
        anchoredRoot = await client.rootAt(checkpoint.tree_size);
      } catch (err) {
        chainError = err.message;
      }
    }
    for (var i = 0; i < doc.handovers.length; i++) {
      var item = doc.handovers[i];
      var mark = root.document.querySelector('.browser-check[data-leaf="' + item.leaf_index + '"]');
      var reason = null;
      if (item.pending || !checkpoint) {
        if (mark) mark.textContent = word(panel, "pending");
        continue;
      }
      reason = chainError || (await checkHandover(item, serial, checkpoint, anchoredRoot));
      if (reason) failed = true;
      else checked += 1;
      if (mark) {
        mark.textContent = reason ? word(panel, "fail") + " " + reason : word(panel, "ok");
        mark.setAttribute("data-ok", reason ? "false" : "true");
      }
    }
    // Green only when something was checked: with nothing anchored yet there is nothing
    // the browser could prove, and the page says so instead of passing.
    var outcome = failed ? "fail" : checked ? "pass" : "warn";
    verdict.classList.remove("running");
    verdict.classList.add(outcome);
    verdict.setAttribute("data-ok", outcome === "pass" ? "true" : "false");
    verdict.textContent = word(panel, { fail: "some-fail", pass: "all-ok", warn: "none-checked" }[outcome]);
  }

  function wire(doc) {
    var panel = doc.getElementById("serial-verifier");
    if (!panel || !V) return;
    panel.hidden = false;
    panel.querySelector("#serial-rpc-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      run(panel);
    });
    run(panel);
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { checkHandover: checkHandover };
  } else if (root.document.readyState === "loading") {
    root.document.addEventListener("DOMContentLoaded", function () { wire(root.document); });
  } else {
    wire(root.document);
  }
})(typeof window !== "undefined" ? window : globalThis);
