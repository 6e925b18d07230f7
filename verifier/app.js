/*
 * The independent verifier's page: the visitor picks a pinned issuer and types a card
 * number (or pastes the address of a scanned QR code); the page fetches the bundle from
 * that issuer's API origin and runs verify.js's checks against the PINNED contract through
 * the issuer's public RPC endpoint. Nothing the fetched bundle says chooses the contract.
 */
(function (root) {
  "use strict";

  // A card number, or the card page's address ending in /c/<number>.
  function parseCardInput(text) {
    var value = String(text || "").trim();
    var m = /\/c\/([^/?#\s]+)\/?(?:[?#].*)?$/.exec(value);
    var number = m ? decodeURIComponent(m[1]) : value;
    return number.replace(/[\s-]+/g, "").toUpperCase();
  }

  function bundleUrl(issuer, number) {
    return issuer.api_origin + "/api/v1/public/cards/" + encodeURIComponent(number) + "/bundle";
  }

  // The bundle must name the pinned chain and contract: the chain is asked only about
  // the pinned contract, but saying so plainly is part of the verdict.
  function pinCheck(raw, issuer) {
    var cp = raw && raw.checkpoint;
    if (!cp) return { name: "issuer", ok: true, reason: "no checkpoint yet: nothing to compare" };
    var same = String(cp.contract).toLowerCase() === issuer.contract.toLowerCase() &&
      Number(cp.chain_id) === issuer.chain_id;
    return {
      name: "issuer",
      ok: same,
      reason: same
        ? "contract " + issuer.contract + " on chain " + issuer.chain_id + " is the pinned issuer's"
        : "the bundle names contract " + cp.contract + " on chain " + cp.chain_id +
          ", not the pinned " + issuer.contract + " on chain " + issuer.chain_id,
    };
  }

  function show(doc, checks, ok, message) {
    var list = doc.getElementById("checks");
    list.textContent = "";
    checks.forEach(function (c) {
      var row = doc.createElement("li");
      var warn = c.ok && c.warning;
      row.className = "check " + (warn ? "warn" : c.ok ? "pass" : "fail");
      row.setAttribute("data-check", c.name);
      row.setAttribute("data-ok", String(c.ok));
      row.textContent = (warn ? "⚠ " : c.ok ? "✔ " : "✘ ") + c.name + " — " + c.reason;
      list.appendChild(row);
    });
    var verdict = doc.getElementById("verdict");
    verdict.className = "verdict " + (ok ? "pass" : "fail");
    verdict.setAttribute("data-ok", String(ok));
    verdict.textContent = message;
  }

  async function verifyCard(doc, issuer, number) {
    var api = root.CardTrailVerify;
    var verdict = doc.getElementById("verdict");
    doc.getElementById("result").hidden = false;
    verdict.className = "verdict running";
    verdict.removeAttribute("data-ok");
    verdict.textContent = "…";
    doc.getElementById("checks").textContent = "";
    doc.getElementById("balance").hidden = true;
    var raw;
    try {
      var response = await root.fetch(bundleUrl(issuer, number), {
        headers: { Accept: "application/json" }, credentials: "omit", referrerPolicy: "no-referrer",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      raw = await response.json();
    } catch (err) {
      // verify.js's own message, so the file's catalogue words it as the card page does.
      var reason = api.t("could not fetch the bundle: %(error)s", { error: err.message });
      show(doc, [{ name: "format", ok: false, reason: reason }],
        false, "未能获取证明 · Could not fetch the proof bundle.");
      return;
    }
    var pinned = pinCheck(raw, issuer);
    var client = api.chainClient(issuer.rpc_urls[0], issuer.contract, SELECTORS);
    var result = await api.verifyBundle(raw, client.rootAt, {
      chainId: client.chainId,
      cardNumber: number,
      latest: function (size) {
        return client.latest(size, raw.checkpoint && raw.checkpoint.block_number);
      },
    });
    var checks = [pinned].concat(result.checks);
    var ok = pinned.ok && result.ok;
    // The card's balance history, shown as verified only when every check holds.
    api.renderBalance(doc, { ok: ok, checks: checks, balance: result.balance });
    show(doc, checks, ok, ok
      ? "已验证：此卡的记录在发行方的链上日志中 · Verified against the pinned issuer's contract."
      : "验证失败 · Verification FAILED: " + checks.filter(function (c) { return !c.ok; })
          .map(function (c) { return c.name; }).join(", ") + ".");
  }

  function wire(doc) {
    var issuers = JSON.parse(doc.getElementById("pinned-issuers").textContent).issuers;
    var select = doc.getElementById("issuer");
    issuers.forEach(function (issuer, i) {
      var option = doc.createElement("option");
      option.value = String(i);
      option.textContent = issuer.name.zh + " · " + issuer.name.en;
      select.appendChild(option);
    });
    function describe() {
      var issuer = issuers[Number(select.value)];
      doc.getElementById("pin").textContent = "contract " + issuer.contract + ", chain " +
        issuer.chain_id + ", " + issuer.api_origin + ", RPC " + issuer.rpc_urls[0];
    }
    select.addEventListener("change", describe);
    describe();
    doc.getElementById("lookup-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var number = parseCardInput(doc.getElementById("card-input").value);
      verifyCard(doc, issuers[Number(select.value)], number);
    });
  }

  var SELECTORS = root.CARDTRAIL_SELECTORS;
  root.CardTrailVerifier = { parseCardInput: parseCardInput, bundleUrl: bundleUrl, pinCheck: pinCheck };
  if (root.document && root.document.getElementById("pinned-issuers")) {
    if (root.document.readyState === "loading") {
      root.document.addEventListener("DOMContentLoaded", function () { wire(root.document); });
    } else {
      wire(root.document);
    }
  }
})(typeof window !== "undefined" ? window : globalThis);
