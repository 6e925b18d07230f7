// The customer's pages: forms over /api/v1/customer (ledger_service/customer_api.py).
// No secret lives here: the card's code is typed by the customer, a pickup's key and a
// gift's token come from the page URL's fragment. They go on in a header, never in a URL:
// access logs and proxies keep URLs.
(function () {
  "use strict";

  var root = document.getElementById("customer");
  if (!root) { return; }
  var API = root.getAttribute("data-api");
  var errorBox = document.getElementById("customer-error");

  function idempotencyKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function showError(problem) {
    var text = problem && (problem.title || problem.detail)
      ? (problem.title + (problem.detail ? " — " + problem.detail : ""))
      : root.getAttribute("data-msg-network");
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }

  var KEY_HEADER = "X-CardTrail-Key";

  function call(method, path, body, key) {
    var init = { method: method, headers: { "Accept": "application/json" } };
    if (key !== undefined) { init.headers[KEY_HEADER] = key; }
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["Idempotency-Key"] = idempotencyKey();
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (doc) {
        if (!response.ok) { throw doc; }
        return doc;
      });
    });
  }

  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value.trim() : "";
  }

  function cardPath() {
    return "/cards/" + encodeURIComponent(value("card-number").replace(/\s+/g, ""));
  }

  function fragment() { return window.location.hash.replace(/^#/, ""); }

  function show(id, text) {
    var el = document.getElementById(id);
    if (text !== undefined) { el.textContent = text; }
    el.hidden = false;
  }

  // --- my card: check the code, claim ----------------------------------------------
  var verifyButton = document.getElementById("verify-button");
  if (verifyButton) {
    verifyButton.addEventListener("click", function () {
      clearError();
      call("POST", cardPath() + "/verify", { redemption_code: value("card-code") })
        .then(function () {
          var el = document.getElementById("verify-result");
          show("verify-result", el.getAttribute("data-ok"));
        }, showError);
    });
    document.getElementById("claim-button").addEventListener("click", function () {
      clearError();
      call("POST", cardPath() + "/claim", {
        redemption_code: value("card-code"), holder_ref: value("holder-ref")
      }).then(function () {
        var el = document.getElementById("claim-result");
        show("claim-result", el.getAttribute("data-ok"));
      }, showError);
    });
  }

  // --- request a pickup --------------------------------------------------------------
  var pickupForm = document.getElementById("pickup-form");
  if (pickupForm) {
    var modes = pickupForm.querySelectorAll("input[name=mode]");
    Array.prototype.forEach.call(modes, function (radio) {
      radio.addEventListener("change", function () {
        var delivery = pickupForm.querySelector("input[name=mode]:checked").value === "delivery";
        document.getElementById("store-fields").hidden = delivery;
        document.getElementById("delivery-fields").hidden = !delivery;
      });
    });
    pickupForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      var mode = pickupForm.querySelector("input[name=mode]:checked").value;
      var body = { mode: mode, redemption_code: value("card-code") };
      if (mode === "store") {
        var chosen = pickupForm.querySelector("input[name=store_id]:checked");
        body.store_id = chosen ? chosen.value : value("store");
        if (value("day")) { body.day = value("day"); }
      } else {
        body.address = value("address");
      }
      call("POST", cardPath() + "/pickups", body).then(function (done) {
        window.location.assign(done.page_url);
      }, showError);
    });
  }

  // --- the pickup's page: progress and the rotating code --------------------------------
  // An <img src> cannot send a header: the QR is fetched, then shown as a data: URL (the
  // pages' Content-Security-Policy allows those images, not blob: ones).
  function showQr(url, key) {
    var init = { headers: {}, cache: "no-store" };
    init.headers[KEY_HEADER] = key;
    fetch(url, init).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (svg) {
      if (svg !== null) {
        document.getElementById("pickup-qr").src =
          "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
      }
    }, function () { /* without its QR, the code still shows as text */ });
  }

  var pickup = document.getElementById("pickup");
  if (pickup) {
    var pickupId = pickup.getAttribute("data-pickup-id");
    var states = JSON.parse(pickup.getAttribute("data-states"));
    var key = fragment();
    var shownCode = null;
    var refresh = function () {
      call("GET", "/pickups/" + encodeURIComponent(pickupId), undefined, key)
        .then(function (doc) {
          clearError();
          show("pickup-state", states[doc.state] || doc.state);
          document.getElementById("pickup-where").textContent =
            (doc.store_id || "") + (doc.day ? " · " + doc.day : "");
          var box = document.getElementById("pickup-code-box");
          if (doc.rotating_code) {
            box.hidden = false;
            if (doc.rotating_code !== shownCode) {
              shownCode = doc.rotating_code;
              document.getElementById("pickup-code").textContent = doc.rotating_code;
              showQr(pickup.getAttribute("data-qr"), key);
            }
            document.getElementById("pickup-seconds").textContent =
              pickup.getAttribute("data-seconds").replace("{n}", String(doc.code_seconds_left));
          } else {
            box.hidden = true;
          }
          if (doc.tracking_number) {
            show("pickup-tracking", (doc.carrier || "") + " " + doc.tracking_number);
          }
          var cancellable = doc.state === "PICKUP_REQUESTED" || doc.state === "PICKUP_REVIEWED";
          document.getElementById("pickup-cancel-form").hidden = !cancellable;
        }, showError);
    };
    refresh();
    window.setInterval(refresh, 5000);
    document.getElementById("pickup-cancel-form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      call("POST", "/pickups/" + encodeURIComponent(pickupId) + "/cancel", {
        redemption_code: value("cancel-code")
      }).then(refresh, showError);
    });
  }

  // --- gift: make a link, accept one ----------------------------------------------------
  var giftForm = document.getElementById("gift-form");
  if (giftForm) {
    giftForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      call("POST", cardPath() + "/gift", { redemption_code: value("card-code") })
        .then(function (offer) {
          document.getElementById("gift-link").value = offer.share_url;
          show("gift-result");
        }, showError);
    });
  }

  // The giver takes an open offer back: the card's number and code again, and a second
  // tap to confirm, since the link stops working at once.
  var withdrawButton = document.getElementById("withdraw-button");
  if (withdrawButton) {
    var confirmBox = document.getElementById("withdraw-confirm");
    var yes = document.getElementById("withdraw-yes");
    withdrawButton.addEventListener("click", function () {
      clearError();
      document.getElementById("withdraw-result").hidden = true;
      confirmBox.hidden = false;
      yes.focus();
    });
    document.getElementById("withdraw-no").addEventListener("click", function () {
      confirmBox.hidden = true;
      withdrawButton.focus();
    });
    yes.addEventListener("click", function () {
      clearError();
      yes.disabled = true;
      call("POST", cardPath() + "/gift/withdraw", { redemption_code: value("card-code") })
        .then(function (done) {
          var el = document.getElementById("withdraw-result");
          confirmBox.hidden = true;
          document.getElementById("gift-result").hidden = true;
          document.getElementById("gift-link").value = "";
          show("withdraw-result", el.getAttribute(
            done.offer_state === "returned" ? "data-returned" : "data-withdrawn"));
        }, showError)
        .then(function () { yes.disabled = false; });
    });
  }

  var gift = document.getElementById("gift");
  if (gift) {
    var offerId = gift.getAttribute("data-offer-id");
    var giftStates = JSON.parse(gift.getAttribute("data-states"));
    var token = fragment();
    call("GET", "/gifts/" + encodeURIComponent(offerId), undefined, token)
      .then(function (offer) {
        show("gift-state", giftStates[offer.state] || offer.state);
        document.getElementById("accept-form").hidden = offer.state !== "open";
      }, showError);
    document.getElementById("accept-form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      call("POST", "/gifts/" + encodeURIComponent(offerId) + "/accept", {
        token: token, holder_ref: value("accept-holder")
      }).then(function (done) {
        document.getElementById("accept-form").hidden = true;
        show("gift-state", giftStates.accepted);
        show("new-code", done.redemption_code);
        show("new-number", done.card_number);
        show("accept-result");
      }, function (problem) {
        // Withdrawn while this page was open: the status says so in the page's language,
        // so the problem's (English) detail adds nothing.
        if (problem && problem.code === "GIFT_OFFER_WITHDRAWN") {
          document.getElementById("accept-form").hidden = true;
          show("gift-state", giftStates.withdrawn);
          showError({ title: problem.title });
          return;
        }
        showError(problem);
      });
    });
  }
}());
