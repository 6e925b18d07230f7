/*
 * CardTrail's in-browser check of store device signatures.
 *
 * A store's redemption or pickup step may carry an EIP-712 signature by one of the store's
 * device keys; the event in the log holds signer, signature, client id, signing time, the
 * amount signed and the deployment signed for (chain id and LedgerAnchor contract: the
 * EIP-712 domain's chainId and verifyingContract). This script recomputes the EIP-712
 * digest of the command from the event and the card number, recovers the signing key's
 * address with secp256k1 and compares it with the event's signer, then compares the signed
 * amount with the amount the event records (0 when it records none): they must be equal. WebCrypto has neither keccak-256 nor secp256k1,
 * so both are here, in plain JS with BigInt and no dependencies
 * (tests/portal/test_signatures_js.py holds them to eth-account's results).
 *
 * What it cannot check: that the address is really one of the store's keys, and that the
 * deployment signed for is really this merchant's. For those it can only compare with the
 * key list and the deployments this server publishes, and it says so. Events signed under
 * earlier domain versions still recover, with a note: version 1 (no `deployment` member)
 * was valid on any CardTrail deployment, and versions 1 and 2 (no `signed_amount` member)
 * signed no amount, so an amount such an event records is the server's word alone.
 *
 * Its words come from the page's catalogue, as verify.js's do (<script
 * id="cardtrail-messages">, the `js` domain; absent, the English ids are shown).
 */
(function (root) {
  "use strict";

  // --- keccak-256 (the original Keccak padding, as Ethereum uses) ----------------------

  var MASK = (1n << 64n) - 1n;
  var RC = [
    0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
    0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
    0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
    0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
    0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
    0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
  ];
  // Rotation offsets r[x + 5y] of the rho step.
  var ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8,
             18, 2, 61, 56, 14];

  function rotl(v, n) {
    if (n === 0) return v;
    var b = BigInt(n);
    return ((v << b) | (v >> (64n - b))) & MASK;
  }

  function keccakF(s) {
    var c = new Array(5), b = new Array(25);
    for (var round = 0; round < 24; round++) {
      for (var x = 0; x < 5; x++) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (x = 0; x < 5; x++) {
        var d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (var y = 0; y < 25; y += 5) s[y + x] ^= d;
      }
      for (x = 0; x < 5; x++) {
        for (y = 0; y < 5; y++) {
          // pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y])
          b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y], ROT[x + 5 * y]);
        }
      }
      for (y = 0; y < 25; y += 5) {
        for (x = 0; x < 5; x++) {
          s[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & MASK & b[y + (x + 2) % 5]);
        }
      }
      s[0] ^= RC[round];
    }
  }

  /** keccak-256 of a Uint8Array, as a Uint8Array of 32 bytes. */
  function keccak256(bytes) {
    var rate = 136;
    var padded = new Uint8Array((Math.floor(bytes.length / rate) + 1) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    var s = new Array(25).fill(0n);
    for (var off = 0; off < padded.length; off += rate) {
      for (var i = 0; i < rate / 8; i++) {
        var lane = 0n;
        for (var k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[off + i * 8 + k]);
        s[i] ^= lane;
      }
      keccakF(s);
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 4; i++) {
      var v = s[i];
      for (k = 0; k < 8; k++) { out[i * 8 + k] = Number(v & 0xffn); v >>= 8n; }
    }
    return out;
  }

  // --- bytes ---------------------------------------------------------------------------

  var encoder = new TextEncoder();

  function toHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
    return out;
  }

  function fromHex(hex) {
    hex = hex.replace(/^0x/, "");
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error("not hex");
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size), at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function toBig(bytes) { return bytes.length ? BigInt("0x" + toHex(bytes)) : 0n; }

  function fromBig(n) { return fromHex(n.toString(16).padStart(64, "0")); }

  /** An address with its EIP-55 mixed-case checksum. */
  function checksumAddress(address) {
    var lower = address.toLowerCase().replace(/^0x/, "");
    var hash = toHex(keccak256(encoder.encode(lower)));
    var out = "0x";
    for (var i = 0; i < 40; i++) {
      out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    }
    return out;
  }

  // --- secp256k1 -------------------------------------------------------------------------

  var P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
  var N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  var G = {
    x: 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
    y: 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
  };

  function mod(a, m) { var r = a % m; return r < 0n ? r + m : r; }

  function inverse(a, m) {
    var low = mod(a, m), high = m, lm = 1n, hm = 0n;
    while (low > 1n) {
      var q = high / low;
      var nm = hm - lm * q, nw = high - low * q;
      hm = lm; high = low; lm = nm; low = nw;
    }
    return mod(lm, m);
  }

  function powmod(base, exp, m) {
    var result = 1n;
    base = mod(base, m);
    while (exp > 0n) {
      if (exp & 1n) result = (result * base) % m;
      base = (base * base) % m;
      exp >>= 1n;
    }
    return result;
  }

  // Jacobian coordinates (X, Y, Z) stand for (X/Z^2, Y/Z^3); Z = 0 is the point at infinity.
  function jDouble(p) {
    if (p.z === 0n || p.y === 0n) return { x: 0n, y: 1n, z: 0n };
    var ysq = (p.y * p.y) % P;
    var s = (4n * p.x * ysq) % P;
    var m = (3n * p.x * p.x) % P;
    var nx = mod(m * m - 2n * s, P);
    var ny = mod(m * (s - nx) - 8n * ysq * ysq, P);
    return { x: nx, y: ny, z: (2n * p.y * p.z) % P };
  }

  function jAdd(p, q) {
    if (p.z === 0n) return q;
    if (q.z === 0n) return p;
    var pz2 = (p.z * p.z) % P, qz2 = (q.z * q.z) % P;
    var u1 = (p.x * qz2) % P, u2 = (q.x * pz2) % P;
    var s1 = (p.y * qz2 * q.z) % P, s2 = (q.y * pz2 * p.z) % P;
    if (u1 === u2) return s1 === s2 ? jDouble(p) : { x: 0n, y: 1n, z: 0n };
    var h = mod(u2 - u1, P), r = mod(s2 - s1, P);
    var h2 = (h * h) % P, h3 = (h * h2) % P, u1h2 = (u1 * h2) % P;
    var nx = mod(r * r - h3 - 2n * u1h2, P);
    var ny = mod(r * (u1h2 - nx) - s1 * h3, P);
    return { x: nx, y: ny, z: (h * p.z * q.z) % P };
  }

  function jMul(point, k) {
    var result = { x: 0n, y: 1n, z: 0n };
    var addend = { x: point.x, y: point.y, z: 1n };
    while (k > 0n) {
      if (k & 1n) result = jAdd(result, addend);
      addend = jDouble(addend);
      k >>= 1n;
    }
    return result;
  }

  function toAffine(p) {
    if (p.z === 0n) return null;
    var zi = inverse(p.z, P), zi2 = (zi * zi) % P;
    return { x: (p.x * zi2) % P, y: (p.y * zi2 * zi) % P };
  }

  /** The address whose key made the 65-byte signature (r, s, v = 27/28) of the 32-byte
   *  digest; throws on a malformed or non-canonical (high s) signature. */
  function recoverAddress(digest, signature) {
    var sig = typeof signature === "string" ? fromHex(signature) : signature;
    if (sig.length !== 65) throw new Error("signature must be 65 bytes");
    var r = toBig(sig.slice(0, 32)), s = toBig(sig.slice(32, 64)), v = sig[64];
    if (v !== 27 && v !== 28) throw new Error("v must be 27 or 28");
    if (r <= 0n || r >= N || s <= 0n || s >= N) throw new Error("r or s out of range");
    if (s > N / 2n) throw new Error("high s value (not canonical)");
    var x = r;
    var alpha = mod(x * x * x + 7n, P);
    var y = powmod(alpha, (P + 1n) / 4n, P);
    if ((y * y) % P !== alpha) throw new Error("r is not on the curve");
    if ((y & 1n) !== BigInt(v - 27)) y = P - y;
    var z = toBig(digest);
    var rInv = inverse(r, N);
    var u1 = mod(-z * rInv, N), u2 = (s * rInv) % N;
    var q = toAffine(jAdd(jMul(G, u1), jMul({ x: x, y: y }, u2)));
    if (q === null) throw new Error("no key recovers");
    var hash = keccak256(concat([fromBig(q.x), fromBig(q.y)]));
    return checksumAddress("0x" + toHex(hash.slice(12)));
  }

  // --- EIP-712: the store command ---------------------------------------------------------

  var DOMAIN_NAME = "CardTrail";
  var DOMAIN_TYPE =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
  var DOMAIN_VERSION = 3;
  // Version 1 named no deployment, version 2 no amount; the service takes neither any
  // more, older events still hold them.
  var UNBOUND_DOMAIN_TYPE = "EIP712Domain(string name,string version)";
  var COMMAND_TYPE =
    "StoreCommand(string card,string action,string store,string pickup,uint256 amount," +
    "string time,string clientId)";
  var UNSIGNED_AMOUNT_COMMAND_TYPE =
    "StoreCommand(string card,string action,string store,string pickup,string time,string clientId)";
  var ACTIONS = { REDEEMED: "redeem", PICKUP_READY: "pickup_ready",
                  PICKUP_COMPLETED: "pickup_complete" };

  function hashText(text) { return keccak256(encoder.encode(text)); }

  /** A deployment {chain_id, contract} checked: a positive integer and a 0x address. */
  function parseDeployment(raw) {
    if (!raw || typeof raw !== "object") throw new Error("a deployment names chain_id and contract");
    var chainId = raw.chain_id, contract = raw.contract;
    if (typeof chainId !== "number" || !Number.isSafeInteger(chainId) || chainId <= 0) {
      throw new Error("chain_id must be a positive integer");
    }
    if (typeof contract !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(contract)) {
      throw new Error("contract must be a 0x address");
    }
    return { chain_id: chainId, contract: checksumAddress(contract) };
  }

  function sameDeployment(a, b) {
    return a.chain_id === b.chain_id && a.contract.toLowerCase() === b.contract.toLowerCase();
  }

  /** The EIP-712 domain separator of a deployment under domain `version` (default the
   *  current one, 3; 2 for events signed before amounts were), or of version 1 when
   *  `deployment` is null. */
  function domainSeparator(deployment, version) {
    if (deployment === null) {
      return keccak256(concat([hashText(UNBOUND_DOMAIN_TYPE), hashText(DOMAIN_NAME),
                               hashText("1")]));
    }
    var contract = new Uint8Array(32);
    contract.set(fromHex(deployment.contract), 12);
    return keccak256(concat([hashText(DOMAIN_TYPE), hashText(DOMAIN_NAME),
                             hashText(String(version || DOMAIN_VERSION)),
                             fromBig(BigInt(deployment.chain_id)), contract]));
  }

  /** The EIP-712 digest a device signs for a store command, made for `deployment`
   *  ({chain_id, contract}; null: a version 1 signature, bound to no deployment). A
   *  command with an `amount` (an integer) is version 3's; without one, version 2's (or
   *  1's), whose type names no amount. */
  function commandDigest(command, deployment) {
    var signsAmount = command.amount !== undefined && command.amount !== null;
    var version = signsAmount ? DOMAIN_VERSION : 2;
    var members = [hashText(command.card), hashText(command.action), hashText(command.store),
                   hashText(command.pickup)];
    if (signsAmount) members.push(fromBig(BigInt(command.amount)));
    members.push(hashText(command.time), hashText(command.clientId));
    var type = signsAmount ? COMMAND_TYPE : UNSIGNED_AMOUNT_COMMAND_TYPE;
    var struct = keccak256(concat([hashText(type)].concat(members)));
    return keccak256(concat([new Uint8Array([0x19, 0x01]), domainSeparator(deployment, version),
                             struct]));
  }

  /** Whether `value` is an amount a device can sign: an integer from 0 to 2^53 − 1. */
  function isAmount(value) {
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  }

  /** The signed command behind a logged event, or null if the event carries no signature.
   *  Its `amount` is the event's `signed_amount` (version 3), absent from older events. */
  function eventCommand(event, cardNumber) {
    var data = event && event.data;
    if (!data || typeof data.signature !== "string" || typeof data.signer !== "string") return null;
    var command = {
      card: cardNumber,
      action: ACTIONS[event.type] || String(event.type),
      store: event.store_id || "",
      pickup: data.pickup_id || "",
      time: String(data.signed_at),
      clientId: String(data.client_id),
    };
    if (data.signed_amount !== undefined) command.amount = data.signed_amount;
    return command;
  }

  /** The domain version an event's signature claims: 3 names its amount, 2 only its
   *  deployment, 1 neither. */
  function versionOf(data) {
    if (data.signed_amount !== undefined) return 3;
    return data.deployment !== undefined ? 2 : 1;
  }

  /** The amount an event records, as a device signs it: 0 when it moves no value. */
  function recordedAmount(data) {
    return data.amount === undefined || data.amount === null ? 0 : data.amount;
  }

  // The card page embeds its language's catalogue, as for verify.js (docs/portal.md,
  // "browser catalogue"); without one (Node, English pages) the id is the message.
  var messagesNode = root.document && root.document.getElementById("cardtrail-messages");
  var MESSAGES = messagesNode ? JSON.parse(messagesNode.textContent || "{}") : {};

  /** The message `id` in the page's language, `%(name)s` replaced from `values`. */
  function t(id, values) {
    return (MESSAGES[id] || id).replace(/%\((\w+)\)s/g, function (_, k) {
      return String(values[k]);
    });
  }

  /** What the result says of the amount: the signed one against the recorded one, or that
   *  an older signature named none. */
  function amountNote(version, signedAmount, recorded) {
    if (version === 3) {
      return recorded === 0
        ? t("the device signed amount 0, and this event moves no value")
        : t("the device signed amount %(amount)s, the amount this event records (minor " +
            "units of the card's currency, or uses)", { amount: signedAmount });
    }
    return recorded === 0
      ? t("it was signed under domain version %(version)s, which names no amount",
          { version: version })
      : t("it was signed under domain version %(version)s, which names no amount: the " +
          "amount %(amount)s this event records is the server's word alone, not the device's",
          { version: version, amount: recorded });
  }

  /** Check one event's device signature: {ok, signer, recovered, registered, bound,
   *  version, signed_amount, amount, reason}. `version` is the domain version the event
   *  claims; `signed_amount` what the device signed (null before version 3), `amount`
   *  what the event records (0 when none): under version 3 they must be equal.
   *  `storeKeys` maps store ids to the addresses this server publishes for them;
   *  `deployments` lists the deployments ({chain_id, contract}) it publishes as its own. */
  function checkEvent(event, cardNumber, storeKeys, deployments) {
    var command = eventCommand(event, cardNumber);
    if (command === null) return null;
    var signer = event.data.signer, recovered = null, deployment = null;
    var version = versionOf(event.data);
    var bound = version > 1;
    var signedAmount = version === 3 ? command.amount : null;
    var recorded = recordedAmount(event.data);
    function refused(reason) {
      return { ok: false, signer: signer, recovered: recovered, registered: false,
               bound: bound, version: version, signed_amount: signedAmount, amount: recorded,
               reason: reason };
    }
    try {
      if (bound) deployment = parseDeployment(event.data.deployment);
      if (version === 3 && !isAmount(signedAmount)) {
        throw new Error("signed_amount must be an integer from 0 to 2^53 - 1");
      }
      recovered = recoverAddress(commandDigest(command, deployment), event.data.signature);
    } catch (err) {
      return refused(t("the signature is malformed: %(error)s", { error: err.message }));
    }
    var at = bound ? { chain: deployment.chain_id, contract: deployment.contract } : {};
    if (recovered.toLowerCase() !== signer.toLowerCase()) {
      at.recovered = recovered;
      at.signer = signer;
      return refused(bound
        ? t("the signature was made by %(recovered)s, not by %(signer)s, for chain " +
            "%(chain)s, contract %(contract)s", at)
        : t("the signature was made by %(recovered)s, not by %(signer)s", at));
    }
    if (version === 3 && signedAmount !== recorded) {
      return refused(t("the device %(device)s signed amount %(signed)s, but this event " +
                       "records %(amount)s",
                       { device: recovered, signed: signedAmount,
                         amount: JSON.stringify(recorded) }));
    }
    at.recovered = recovered;
    var where;
    if (bound) {
      var listed = (deployments || []).some(function (d) { return sameDeployment(d, deployment); });
      if (!listed) {
        return refused(t("the signature was made for chain %(chain)s, contract %(contract)s, " +
                         "which this server does not list as its deployment", at));
      }
      where = t("the signature recovers to %(recovered)s for chain %(chain)s, contract " +
                "%(contract)s", at);
    } else {
      where = t("the signature recovers to %(recovered)s under the old domain that names no " +
                "deployment (such a signature was valid on any CardTrail deployment)", at);
    }
    var keys = (storeKeys && storeKeys[event.store_id]) || [];
    var registered = keys.some(function (k) { return k.toLowerCase() === signer.toLowerCase(); });
    var store = { store: event.store_id };
    return {
      ok: true, signer: signer, recovered: recovered, registered: registered, bound: bound,
      version: version, signed_amount: signedAmount, amount: recorded,
      reason: [
        where,
        amountNote(version, signedAmount, recorded),
        registered
          ? t("this server lists it as a key of store %(store)s", store)
          : t("this server does not list it as a key of store %(store)s", store),
      ].join(t("; ")),
    };
  }

  // --- the page -------------------------------------------------------------------------------

  function showResults(doc, bundle, cardNumber, storeKeys, deployments) {
    var events = [].concat(bundle.events || [], bundle.pending || []);
    events.forEach(function (item) {
      var result = checkEvent(item.event, cardNumber, storeKeys, deployments);
      if (result === null) return;
      var slot = doc.querySelector('.sig-check[data-leaf="' + item.leaf_index + '"]');
      if (!slot) return;
      var good = result.ok && result.registered;
      slot.className = "sig-check " + (good ? "pass" : "fail");
      slot.setAttribute("data-ok", String(good));
      slot.setAttribute("data-version", String(result.version));
      if (result.signed_amount !== null) {
        slot.setAttribute("data-signed-amount", String(result.signed_amount));
      }
      slot.setAttribute("data-amount", String(result.amount));
      slot.textContent = good
        ? t("✔ signature checked in your browser: %(reason)s (the key and deployment lists " +
            "are this server's word, not proven).", { reason: result.reason })
        : t("✘ %(reason)s.", { reason: result.reason });
    });
  }

  function wire(doc) {
    var panel = doc.getElementById("verifier");
    if (!panel) return;
    var storeKeys = {}, deployments = [];
    try { storeKeys = JSON.parse(panel.getAttribute("data-device-keys") || "{}"); } catch (e) { /* none */ }
    try {
      deployments = JSON.parse(panel.getAttribute("data-signing-deployments") || "[]");
    } catch (e) { /* none: every bound signature then says its deployment is not listed */ }
    panel.addEventListener("cardtrail:bundle", function (ev) {
      showResults(doc, ev.detail, panel.getAttribute("data-card-number"), storeKeys, deployments);
    });
  }

  var api = {
    keccak256: keccak256,
    checksumAddress: checksumAddress,
    recoverAddress: recoverAddress,
    commandDigest: commandDigest,
    domainSeparator: domainSeparator,
    eventCommand: eventCommand,
    checkEvent: checkEvent,
    toHex: toHex,
    fromHex: fromHex,
  };

  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.CardTrailSignatures = api;
    if (root.document) {
      if (root.document.readyState === "loading") {
        root.document.addEventListener("DOMContentLoaded", function () { wire(root.document); });
      } else {
        wire(root.document);
      }
    }
  }
})(typeof window !== "undefined" ? window : globalThis);
