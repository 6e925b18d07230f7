/*
 * CardTrail's in-browser verifier: checks a card's proof bundle with nothing but WebCrypto
 * and a chain RPC endpoint the visitor chooses, so the visitor need not trust our server.
 *
 * It runs the same checks, under the same names, as anchoring/bundle.py (the auditor's
 * `cardtrail verify`); tests/portal/test_verify_js.py holds both to the same case files.
 * Plain script, no dependencies: in a page it wires itself to #verifier; under Node it
 * exports its functions.
 *
 * Entry point in a page (kept stable: the card page and the stand-alone verifier use it):
 *   - inputs, all on the element #verifier: data-bundle-url (the bundle to fetch),
 *     data-card-number, data-root-at-selector, data-latest-checkpoint-selector,
 *     data-anchored-topic (keccak values WebCrypto cannot compute), and the pin:
 *     data-pinned-contract, data-pinned-chain-id, data-pinned-serves (the issuer the
 *     server is configured with; empty: no pin, and the `issuer` check warns); the RPC
 *     endpoint is the input #rpc-url, and the form #rpc-form runs the checks again;
 *   - messages: <script type="application/json" id="cardtrail-messages"> holds the page
 *     language's catalogue (message id -> text); absent, the English ids are shown;
 *   - output: one <li> per check in #checks, and the verdict in #verdict with data-ok,
 *     data-fresh, data-status (the card's status in the verified history) and data-pinned;
 *     the event "cardtrail:bundle" on #verifier carries the fetched bundle (signatures.js);
 *     #balance (optional, outside #verifier: #balance-now, the table #balance-history)
 *     shows a value card's balance history once every check holds (renderBalance).
 * It runs on DOMContentLoaded (or at once if the document is already parsed).
 */
(function (root) {
  "use strict";

  var FORMAT_V1 = "cardtrail-bundle/1";
  var FORMAT_V2 = "cardtrail-bundle/2";
  var FORMAT = FORMAT_V2;
  var FORMATS = [FORMAT_V1, FORMAT_V2];
  var ZERO_HASH = "0".repeat(64);
  var ZERO_ROOT = "0".repeat(64);
  var HASH_RE = /^[0-9a-f]{64}$/;
  var SALT_RE = /^(?:[0-9a-f]{2})+$/;
  var ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
  var CARD_NUMBER_RE = /^[\x21-\x7e]{1,64}$/;
  // The same grace as anchoring/bundle.py: an honest server serves a new checkpoint
  // seconds to minutes after it is anchored; older than this (chain time) is a failure.
  var FRESHNESS_GRACE_SECONDS = 600;

  function BundleError(message) {
    this.name = "BundleError";
    this.message = message;
  }
  BundleError.prototype = Object.create(Error.prototype);

  function ProofError(message) {
    this.name = "ProofError";
    this.message = message;
  }
  ProofError.prototype = Object.create(Error.prototype);

  // --- RFC 8785 canonical JSON -------------------------------------------------------

  function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
  }

  /** RFC 8785 (JCS) text of a JSON value made of integers, strings, bools, null, arrays
   *  and objects. Object keys sort by UTF-16 code units, which is what Array.sort does;
   *  JSON.stringify already escapes strings exactly as JCS asks. */
  function canonicalize(value) {
    if (value === null || typeof value === "boolean") return String(value);
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new BundleError("not an integer within ±(2^53-1)");
      return JSON.stringify(value);
    }
    if (typeof value === "string") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
    if (isObject(value)) {
      var keys = Object.keys(value).sort();
      return "{" + keys.map(function (k) {
        return JSON.stringify(k) + ":" + canonicalize(value[k]);
      }).join(",") + "}";
    }
    throw new BundleError("unsupported value of type " + typeof value);
  }

  // --- hashing (WebCrypto) and RFC 9162 ------------------------------------------------

  var encoder = new TextEncoder();

  function toHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
    return out;
  }

  function fromHex(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await root.crypto.subtle.digest("SHA-256", bytes));
  }

  async function hashLeaf(leafInput) {
    return sha256(concat([new Uint8Array([0]), leafInput]));
  }

  async function hashChildren(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  function bitLength(n) {
    // Tree sizes stay below 2^53, beyond 32-bit operators: use arithmetic, not bit ops.
    var bits = 0;
    while (n > 0) { bits += 1; n = Math.floor(n / 2); }
    return bits;
  }

  function bit(n, level) {
    return Math.floor(n / Math.pow(2, level)) % 2;
  }

  function xorBitLength(a, b) {
    // bit_length(a XOR b), for integers beyond 32 bits.
    var len = 0;
    for (var level = 0; Math.pow(2, level) <= Math.max(a, b); level++) {
      if (bit(a, level) !== bit(b, level)) len = level + 1;
    }
    return len;
  }

  function popcount(n) {
    var count = 0;
    while (n > 0) { count += n % 2; n = Math.floor(n / 2); }
    return count;
  }

  // Every hash is 32 bytes, as in anchoring/merkle.py. The bundle parser already insists on
  // that; the proof functions check again so that they hold on their own (an empty "leaf
  // hash" with an empty proof would otherwise be the "root" of a one-leaf tree).
  function requireHashBytes(bytes, what) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
      var size = bytes instanceof Uint8Array ? bytes.length : typeof bytes;
      throw new ProofError(what + " must be 32 bytes, got " + size);
    }
  }

  function requireHashHex(hex, what) {
    if (typeof hex !== "string" || !HASH_RE.test(hex)) {
      throw new ProofError(what + " must be 32 bytes as 64 lowercase hex digits");
    }
  }

  /** The root an inclusion proof leads to (RFC 9162 §2.1.3.2), as hex. `leafHash` is
   *  bytes; the proof's hashes and the result are hex. Throws ProofError when the index,
   *  the leaf hash or the proof cannot belong to a tree of `treeSize` leaves. */
  async function rootFromInclusionProof(leafIndex, treeSize, leafHash, proof) {
    if (!(leafIndex >= 0 && leafIndex < treeSize)) {
      throw new ProofError("leaf index " + leafIndex + " is outside a tree of size " + treeSize);
    }
    requireHashBytes(leafHash, "leaf hash");
    var inner = xorBitLength(leafIndex, treeSize - 1);
    var border = popcount(Math.floor(leafIndex / Math.pow(2, inner)));
    if (proof.length !== inner + border) {
      throw new ProofError("wrong proof size " + proof.length + ", want " + (inner + border));
    }
    proof.forEach(function (hash, i) { requireHashHex(hash, "proof[" + i + "]"); });
    var node = leafHash;
    for (var level = 0; level < inner; level++) {
      var sibling = fromHex(proof[level]);
      node = bit(leafIndex, level) ? await hashChildren(sibling, node)
                                    : await hashChildren(node, sibling);
    }
    for (var i = inner; i < proof.length; i++) node = await hashChildren(fromHex(proof[i]), node);
    return toHex(node);
  }

  /** Checks that `leafHash` is leaf `leafIndex` of the tree of `treeSize` leaves whose root
   *  is `rootHex`; throws ProofError saying what differs when it is not. */
  async function verifyInclusion(leafIndex, treeSize, leafHash, proof, rootHex) {
    var calculated = await rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
    requireHashHex(rootHex, "expected root");
    if (calculated !== rootHex) {
      throw new ProofError("calculated root " + calculated + " does not match expected root " +
                           rootHex);
    }
  }

  // --- the card map (docs/card-map.md; anchoring/cardmap.py is the reference) ---------

  var KEY_BITS = 256;
  var MAP_VALUE_HEX = 96;
  var EMPTY = new Uint8Array(32);
  var EMPTY_HEX = toHex(EMPTY);

  /** A malformed card map proof (`kind` "shape") or one that leads to another map root
   *  ("root_mismatch"), as anchoring.errors' MapProofShapeError / MapRootMismatchError. */
  function MapProofError(kind, message) {
    this.name = "MapProofError";
    this.kind = kind;
    this.message = message;
  }
  MapProofError.prototype = Object.create(Error.prototype);

  function shapeError(message) {
    return new MapProofError("shape", message);
  }

  /** Bit `i` of a key's path: bit 0 is the most significant bit of byte 0 (0: left). */
  function keyBit(key, i) {
    return (key[i >> 3] >> (7 - (i & 7))) & 1;
  }

  function commonPrefixBits(a, b) {
    for (var i = 0; i < KEY_BITS; i++) if (keyBit(a, i) !== keyBit(b, i)) return i;
    return KEY_BITS;
  }

  function mapHex(value, digits, what) {
    if (typeof value !== "string" || value.length !== digits || !/^[0-9a-f]*$/.test(value)) {
      throw shapeError(what + " must be " + digits + " lowercase hex digits");
    }
    return fromHex(value);
  }

  /** SHA-256(0x02 ‖ key ‖ value): a map entry. */
  async function hashMapLeaf(key, value) {
    return sha256(concat([new Uint8Array([2]), key, value]));
  }

  /** SHA-256(0x03 ‖ left ‖ right): a subtree of two or more entries. */
  async function hashMapNode(left, right) {
    return sha256(concat([new Uint8Array([3]), left, right]));
  }

  /** The map value of a card's head: u64(seq) ‖ u64(leaf_index) ‖ leaf hash (48 bytes). */
  function encodeHead(seq, leafIndex, leafHash) {
    function u64(n) {
      var out = new Uint8Array(8);
      for (var i = 7; i >= 0; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
      return out;
    }
    return concat([u64(seq), u64(leafIndex), leafHash]);
  }

  /** Parse a map proof's JSON form into {siblings: [bytes or null, top first], other};
   *  throws MapProofError("shape") unless it is well formed. */
  function parseMapProof(raw) {
    if (!isObject(raw)) throw shapeError("a map proof must be an object");
    var bitmap = mapHex(raw.bitmap, 64, "bitmap");
    if (!Array.isArray(raw.siblings)) throw shapeError("siblings must be an array");
    var given = raw.siblings.map(function (h, i) { return mapHex(h, 64, "siblings[" + i + "]"); });
    var depth = 0;
    for (var i = 0; i < KEY_BITS; i++) if (keyBit(bitmap, i)) depth = i + 1;
    var setBits = 0;
    for (i = 0; i < depth; i++) setBits += keyBit(bitmap, i);
    if (setBits !== given.length) {
      throw shapeError("wrong number of siblings " + given.length + ", the bitmap wants " +
                       setBits);
    }
    var siblings = [];
    var next = 0;
    for (i = 0; i < depth; i++) siblings.push(keyBit(bitmap, i) ? given[next++] : null);
    var other = raw.other_leaf === undefined ? null : raw.other_leaf;
    if (other !== null) {
      if (!isObject(other)) throw shapeError("other_leaf must be an object or null");
      other = { key: mapHex(other.key, 64, "other_leaf.key"),
                value: mapHex(other.value, MAP_VALUE_HEX, "other_leaf.value") };
    }
    return { siblings: siblings, other: other };
  }

  /** The map root (hex) a parsed proof leads to for `key` holding `value` (bytes; null
   *  asks for the key's absence). Throws MapProofError("shape") for a proof no map has. */
  async function rootFromMapProof(key, value, proof) {
    var depth = proof.siblings.length;
    if (depth > KEY_BITS) throw shapeError("wrong proof depth " + depth + ", want at most 256");
    if (depth && proof.siblings[depth - 1] === null) {
      throw shapeError("the lowest sibling is empty: that subtree would be its leaf");
    }
    proof.siblings.forEach(function (sibling, i) {
      if (sibling !== null && toHex(sibling) === EMPTY_HEX) {
        throw shapeError("sibling at depth " + (i + 1) + " is the empty hash");
      }
    });
    var node;
    if (value !== null) {
      if (proof.other !== null) throw shapeError("a proof of presence ends at the key's own leaf");
      node = await hashMapLeaf(key, value);
    } else if (proof.other === null) {
      node = EMPTY;
    } else {
      if (toHex(proof.other.key) === toHex(key)) {
        throw shapeError("other_leaf is the key itself: the key is present");
      }
      if (commonPrefixBits(proof.other.key, key) < depth) {
        throw shapeError("other_leaf's key leaves the key's path above depth " + depth);
      }
      node = await hashMapLeaf(proof.other.key, proof.other.value);
    }
    for (var i = depth - 1; i >= 0; i--) {
      var sibling = proof.siblings[i] || EMPTY;
      node = keyBit(key, i) ? await hashMapNode(sibling, node) : await hashMapNode(node, sibling);
    }
    return toHex(node);
  }

  /** Checks a map proof (its JSON form) that the map with root `rootHex` holds `valueHex`
   *  at `keyHex` (null: holds no entry for it); throws MapProofError when it does not. */
  async function verifyMapProof(keyHex, valueHex, rawProof, rootHex) {
    var key = mapHex(keyHex, 64, "map key");
    var value = valueHex === null ? null : mapHex(valueHex, MAP_VALUE_HEX, "map value");
    mapHex(rootHex, 64, "expected map root");
    var calculated = await rootFromMapProof(key, value, parseMapProof(rawProof));
    if (calculated !== rootHex) {
      throw new MapProofError("root_mismatch", "calculated map root " + calculated +
                              " does not match expected map root " + rootHex);
    }
  }

  /** The root (hex) of the map holding `entries` ([{key, value}] as hex), built as
   *  docs/card-map.md defines it: a lone entry stands as high as it can. */
  async function mapRoot(entries) {
    var items = entries.map(function (e) {
      return { key: mapHex(e.key, 64, "map key"), value: mapHex(e.value, MAP_VALUE_HEX, "map value") };
    });
    async function subtree(group, depth) {
      if (!group.length) return EMPTY;
      if (group.length === 1) return hashMapLeaf(group[0].key, group[0].value);
      var left = group.filter(function (e) { return !keyBit(e.key, depth); });
      var right = group.filter(function (e) { return keyBit(e.key, depth); });
      return hashMapNode(await subtree(left, depth + 1), await subtree(right, depth + 1));
    }
    return toHex(await subtree(items, 0));
  }

  // --- the bundle, parsed (the same rules as anchoring/bundle.py) ------------------------

  function requireInt(obj, key, where, minimum) {
    var value = obj[key];
    if (!Number.isSafeInteger(value) || value < (minimum || 0)) {
      throw new BundleError(t("%(field)s must be an integer ≥ %(minimum)s",
                             { field: where + "." + key, minimum: minimum || 0 }));
    }
    return value;
  }

  function requireHash(value, where) {
    if (typeof value !== "string" || !HASH_RE.test(value)) {
      throw new BundleError(t("%(field)s must be 64 lowercase hex digits", { field: where }));
    }
    return value;
  }

  function checkJsonValues(value, where) {
    if (value === null || typeof value === "boolean" || typeof value === "string") return;
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        throw new BundleError(t("%(field)s is not an integer within ±(2^53-1)",
                                { field: where }));
      }
      return;
    }
    if (Array.isArray(value)) {
      value.forEach(function (item, i) { checkJsonValues(item, where + "[" + i + "]"); });
      return;
    }
    if (isObject(value)) {
      Object.keys(value).forEach(function (k) { checkJsonValues(value[k], where + "." + k); });
      return;
    }
    throw new BundleError(t("%(field)s holds an unsupported value", { field: where }));
  }

  function parseEvent(raw, where, proven) {
    if (!isObject(raw)) throw new BundleError(t("%(field)s must be an object", { field: where }));
    var leafIndex = requireInt(raw, "leaf_index", where);
    if (!isObject(raw.event)) {
      throw new BundleError(t("%(field)s must be an object", { field: where + ".event" }));
    }
    var event = raw.event;
    checkJsonValues(event, where + ".event");
    if (event.leaf_index !== leafIndex) {
      throw new BundleError(t("%(field)s %(leaf)s differs from the event's own",
                               { field: where + ".leaf_index", leaf: leafIndex }));
    }
    requireInt(event, "seq", where + ".event");
    var proof = null;
    if (proven) {
      if (!Array.isArray(raw.inclusion_proof)) {
        throw new BundleError(t("%(field)s must be an array",
                                { field: where + ".inclusion_proof" }));
      }
      proof = raw.inclusion_proof.map(function (h, i) {
        return requireHash(h, where + ".inclusion_proof[" + i + "]");
      });
    }
    var leafInput = encoder.encode(canonicalize(event));
    return { leafIndex: leafIndex, event: event, seq: event.seq, leafInput: leafInput, proof: proof };
  }

  function parseCheckpoint(raw) {
    if (raw === null || raw === undefined) return null;
    if (!isObject(raw)) throw new BundleError(t("checkpoint must be an object or null"));
    if (typeof raw.contract !== "string" || !ADDRESS_RE.test(raw.contract)) {
      throw new BundleError(t("checkpoint.contract must be a 0x-prefixed 20-byte address"));
    }
    return {
      treeSize: requireInt(raw, "tree_size", "checkpoint"),
      root: requireHash(raw.root, "checkpoint.root"),
      chainId: requireInt(raw, "chain_id", "checkpoint", 1),
      contract: raw.contract,
      txHash: typeof raw.tx_hash === "string" ? raw.tx_hash : null,
      blockNumber: Number.isSafeInteger(raw.block_number) ? raw.block_number : null,
    };
  }

  /** A version 2 bundle's `card_map`: the CARD_MAP leaf ending the checkpoint's tree, its
   *  inclusion proof and the card's map proof (left raw: the check `complete` parses it). */
  function parseCardMap(raw) {
    var where = "card_map";
    if (!isObject(raw)) throw new BundleError(t("%(field)s must be an object", { field: where }));
    var leafIndex = requireInt(raw, "leaf_index", where);
    if (!isObject(raw.event)) {
      throw new BundleError(t("%(field)s must be an object", { field: where + ".event" }));
    }
    checkJsonValues(raw.event, where + ".event");
    if (!Array.isArray(raw.inclusion_proof)) {
      throw new BundleError(t("%(field)s must be an array",
                              { field: where + ".inclusion_proof" }));
    }
    var proof = raw.inclusion_proof.map(function (h, i) {
      return requireHash(h, where + ".inclusion_proof[" + i + "]");
    });
    if (!isObject(raw.proof)) {
      throw new BundleError(t("%(field)s must be an object", { field: where + ".proof" }));
    }
    return { leafIndex: leafIndex, event: raw.event, proof: proof, mapProof: raw.proof,
             leafInput: encoder.encode(canonicalize(raw.event)) };
  }

  /** Parse a bundle (already JSON-decoded); throws BundleError when it is malformed. */
  function parseBundle(raw) {
    if (!isObject(raw)) throw new BundleError(t("a bundle must be a JSON object"));
    if (FORMATS.indexOf(raw.format) < 0) {
      throw new BundleError(t("unknown format %(given)s, want %(latest)s or %(oldest)s",
                              { given: JSON.stringify(String(raw.format).slice(0, 40)),
                                latest: JSON.stringify(FORMAT_V2),
                                oldest: JSON.stringify(FORMAT_V1) }));
    }
    if (typeof raw.card_number !== "string" || !CARD_NUMBER_RE.test(raw.card_number)) {
      throw new BundleError(t("bundle.card_number must be 1–64 printable ASCII characters"));
    }
    if (typeof raw.card_salt !== "string" || !SALT_RE.test(raw.card_salt)) {
      throw new BundleError(t("bundle.card_salt must be lowercase hex"));
    }
    var checkpoint = parseCheckpoint(raw.checkpoint);
    ["events", "pending"].forEach(function (key) {
      if (!Array.isArray(raw[key])) {
        throw new BundleError(t("%(field)s must be an array", { field: "bundle." + key }));
      }
    });
    if (raw.events.length && checkpoint === null) {
      throw new BundleError(t("bundle has proven events but no checkpoint"));
    }
    var cardMap = raw.format === FORMAT_V2 && checkpoint ? parseCardMap(raw.card_map) : null;
    var events = raw.events.map(function (e, i) { return parseEvent(e, "events[" + i + "]", true); });
    var pending = raw.pending.map(function (e, i) { return parseEvent(e, "pending[" + i + "]", false); });
    if (!events.length && !pending.length) throw new BundleError(t("bundle holds no events"));
    return {
      format: raw.format,
      cardMap: cardMap,
      cardNumber: raw.card_number,
      cardSalt: raw.card_salt,
      checkpoint: checkpoint,
      events: events,
      pending: pending,
      all: events.concat(pending),
    };
  }

  // --- the checks --------------------------------------------------------------------

  function check(name, ok, reason, warning) {
    return { name: name, ok: ok, warning: Boolean(warning), reason: reason };
  }

  function short(hex) {
    return String(hex).slice(0, 16) + "…";
  }

  async function cardCommitment(saltHex, cardNumber) {
    return toHex(await sha256(concat([fromHex(saltHex), encoder.encode(cardNumber)])));
  }

  async function checkCommitment(bundle) {
    var want = await cardCommitment(bundle.cardSalt, bundle.cardNumber);
    for (var i = 0; i < bundle.all.length; i++) {
      var item = bundle.all[i];
      if (item.event.card !== want) {
        return check("commitment", false, t("event at leaf %(leaf)s belongs to another card " +
                     "(card %(card)s, want %(want)s)",
                     { leaf: item.leafIndex, card: short(item.event.card), want: short(want) }));
      }
    }
    return check("commitment", true, t("all %(count)s events commit to this card",
                                       { count: bundle.all.length }));
  }

  async function checkChain(bundle) {
    var history = bundle.all;
    var previous = null;
    for (var want = 0; want < history.length; want++) {
      var item = history[want];
      var seq = item.seq;
      if (seq !== want) {
        if (seq < want) return check("chain", false, t("seq %(seq)s is given twice", { seq: seq }));
        var later = history.slice(want + 1).some(function (e) { return e.seq === want; });
        if (later) {
          return check("chain", false, t("events out of order: seq %(seq)s comes before seq " +
                       "%(want)s", { seq: seq, want: want }));
        }
        return check("chain", false, seq === want + 1
          ? t("event seq %(want)s is missing (next is seq %(seq)s)", { want: want, seq: seq })
          : t("event seq %(want)s–%(last)s is missing (next is seq %(seq)s)",
              { want: want, last: seq - 1, seq: seq }));
      }
      var wantPrev = previous ? toHex(await sha256(previous.leafInput)) : ZERO_HASH;
      if (item.event.prev_event_hash !== wantPrev) {
        return check("chain", false, previous
          ? t("seq %(seq)s: prev_event_hash is not the hash of seq %(previous)s",
              { seq: want, previous: want - 1 })
          : t("seq %(seq)s: prev_event_hash is not the 64 zeros for the first event",
              { seq: want }));
      }
      if (previous && item.leafIndex <= previous.leafIndex) {
        return check("chain", false, t("seq %(seq)s is at leaf %(leaf)s, not after seq " +
                     "%(previous)s (leaf %(previous_leaf)s)", { seq: want, leaf: item.leafIndex,
                     previous: want - 1, previous_leaf: previous.leafIndex }));
      }
      previous = item;
    }
    return check("chain", true, t("seq 0–%(last)s linked by prev_event_hash",
                                  { last: history.length - 1 }));
  }

  function checkPending(bundle) {
    var size = bundle.checkpoint ? bundle.checkpoint.treeSize : 0;
    for (var i = 0; i < bundle.pending.length; i++) {
      if (bundle.pending[i].leafIndex < size) {
        return check("pending", false, t("event at leaf %(leaf)s is inside the anchored tree " +
                     "of size %(size)s but has no proof",
                     { leaf: bundle.pending[i].leafIndex, size: size }));
      }
    }
    if (!bundle.pending.length) return check("pending", true, t("no pending events"));
    return check("pending", true, t("%(count)s event(s) recorded after the checkpoint, not " +
                 "anchored yet (not proven)", { count: bundle.pending.length }));
  }

  // --- the balance (docs/bundle-format.md, "Value events"; as anchoring/bundle.py) -----

  var VALUE_KINDS = ["stored_value", "count"];
  // How each value event's amount moves the balance (ADJUSTED's amount carries its sign).
  var DELTA_SIGN = { LOADED: 1, REFUNDED: 1, BALANCE_RECEIVED: 1, REDEEMED: -1,
                     BALANCE_SENT: -1, ADJUSTED: 1 };

  /** A value event that breaks the balance rule; its message is the check's reason. */
  function Unbalanced(message) {
    this.name = "Unbalanced";
    this.message = message;
  }
  Unbalanced.prototype = Object.create(Error.prototype);

  function has(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key);
  }

  function dataOf(event) {
    return isObject(event.data) ? event.data : {};
  }

  function given(data, key) {
    return has(data, key) && data[key] !== null;
  }

  // REDEEMED counts on a value card or when it states a value (a pickup card's carries
  // none); ACTIVATED when it states an opening balance or opens a value card.
  function isValueEvent(kind, event) {
    var data = dataOf(event);
    if (event.type === "REDEEMED") {
      return VALUE_KINDS.indexOf(kind) >= 0 || has(data, "amount") || has(data, "balance");
    }
    if (event.type === "ACTIVATED") return VALUE_KINDS.indexOf(kind) >= 0 || given(data, "balance");
    return has(DELTA_SIGN, event.type);
  }

  // ACTIVATED's balance or, for a card sold at once (ISSUED active true), the ISSUED
  // face_value (stored value) or units (count), none meaning 0, as the service opens it.
  function opening(kind, seq, type, data) {
    if (type === "ISSUED") {
      var field = kind === "stored_value" ? "face_value" : "units";
      if (!given(data, field)) return 0;
      if (!Number.isSafeInteger(data[field]) || data[field] < 0) {
        throw new Unbalanced(t("seq %(seq)s: ISSUED %(field)s must be an integer ≥ 0",
                               { seq: seq, field: field }));
      }
      return data[field];
    }
    if (!given(data, "balance")) {
      throw new Unbalanced(t("seq %(seq)s: ACTIVATED of a %(kind)s card without an opening " +
                             "balance", { seq: seq, kind: kind }));
    }
    if (!Number.isSafeInteger(data.balance) || data.balance < 0) {
      throw new Unbalanced(t("seq %(seq)s: ACTIVATED balance must be an integer ≥ 0",
                             { seq: seq }));
    }
    return data.balance;
  }

  function stepAmount(seq, type, data) {
    var amount = data.amount;
    if (type === "ADJUSTED") {
      if (!Number.isSafeInteger(amount) || amount === 0) {
        throw new Unbalanced(t("seq %(seq)s: ADJUSTED amount must be an integer ≠ 0",
                               { seq: seq }));
      }
      return amount;
    }
    if (!Number.isSafeInteger(amount) || amount <= 0) {
      throw new Unbalanced(t("seq %(seq)s: %(type)s amount must be an integer > 0",
                             { seq: seq, type: type }));
    }
    return DELTA_SIGN[type] * amount;
  }

  // A refund names an earlier redemption of this card (refund_of, its leaf index) and
  // brings its refunds to at most its amount; `redeemed` maps leaf -> {amount, refunded}.
  function checkRefund(seq, data, amount, redeemed) {
    var target = data.refund_of;
    if (!Number.isSafeInteger(target) || !has(redeemed, String(target))) {
      throw new Unbalanced(t("seq %(seq)s: REFUNDED refund_of is not the leaf index of an " +
                             "earlier redemption of this card", { seq: seq }));
    }
    var redemption = redeemed[String(target)];
    redemption.refunded += amount;
    if (redemption.refunded > redemption.amount) {
      throw new Unbalanced(t("seq %(seq)s: REFUNDED brings the refunds of the redemption at " +
                             "leaf %(leaf)s to %(refunded)s, more than its amount %(amount)s",
                             { seq: seq, leaf: target, refunded: redemption.refunded,
                               amount: redemption.amount }));
    }
  }

  /** Walk the card's events in seq order: {kind, currency, steps}; throws Unbalanced at
   *  the first value event that breaks the rule (anchoring/bundle.py's _balance_steps). */
  function balanceSteps(bundle) {
    var kind = "pickup";
    var currency = null;
    var balance = null;
    var openedAt = null;
    var pending = bundle.pending.map(function (e) { return e.leafIndex; });
    var redeemed = {};
    var steps = [];
    var ordered = bundle.all.slice().sort(function (a, b) { return a.seq - b.seq; });
    ordered.forEach(function (item) {
      var seq = item.seq;
      var event = item.event;
      var data = dataOf(event);
      var type = String(event.type);
      var isPending = pending.indexOf(item.leafIndex) >= 0;
      if (type === "ISSUED") {
        kind = typeof data.kind === "string" ? data.kind : "pickup";
        currency = typeof data.currency === "string" ? data.currency : null;
        if (data.active !== true || VALUE_KINDS.indexOf(kind) < 0) return;
      } else if (!isValueEvent(kind, event)) {
        return;
      }
      if (VALUE_KINDS.indexOf(kind) < 0) {
        throw new Unbalanced(t("seq %(seq)s: %(type)s on a %(kind)s card: only stored_value " +
                               "and count cards hold a balance",
                               { seq: seq, type: type, kind: kind }));
      }
      if (type === "ISSUED" || type === "ACTIVATED") {
        if (openedAt !== null) {
          throw new Unbalanced(t("seq %(seq)s: %(type)s opens the balance again (it was " +
                                 "opened at seq %(opened)s)",
                                 { seq: seq, type: type, opened: openedAt }));
        }
        balance = opening(kind, seq, type, data);
        openedAt = seq;
        steps.push({ seq: seq, leaf_index: item.leafIndex, type: type, amount: balance,
                     balance: balance, pending: isPending });
        return;
      }
      if (type === "LOADED" && kind !== "stored_value") {
        throw new Unbalanced(t("seq %(seq)s: LOADED on a %(kind)s card: only stored_value " +
                               "cards load", { seq: seq, kind: kind }));
      }
      if (balance === null) {
        throw new Unbalanced(t("seq %(seq)s: %(type)s before any opening balance (no " +
                               "ACTIVATED with a balance, nor an ISSUED of a card sold at " +
                               "once)", { seq: seq, type: type }));
      }
      var delta = stepAmount(seq, type, data);
      var after = data.balance;
      if (!Number.isSafeInteger(after)) {
        throw new Unbalanced(t("seq %(seq)s: %(type)s balance must be an integer",
                               { seq: seq, type: type }));
      }
      if (after !== balance + delta) {
        throw new Unbalanced(t("seq %(seq)s: %(type)s changes the balance by %(delta)s from " +
                               "%(before)s, which leaves %(want)s, but the event says " +
                               "%(after)s", { seq: seq, type: type, delta: delta,
                               before: balance, want: balance + delta, after: after }));
      }
      if (after < 0) {
        throw new Unbalanced(t("seq %(seq)s: %(type)s leaves the balance at %(after)s: a " +
                               "balance is never negative",
                               { seq: seq, type: type, after: after }));
      }
      if (type === "REDEEMED") redeemed[String(item.leafIndex)] = { amount: -delta, refunded: 0 };
      if (type === "REFUNDED") checkRefund(seq, data, delta, redeemed);
      balance = after;
      steps.push({ seq: seq, leaf_index: item.leafIndex, type: type, amount: delta,
                   balance: after, pending: isPending });
    });
    return { kind: kind, currency: currency, steps: steps };
  }

  /** The `balance` check and the history it proves ({kind, currency, balance,
   *  proven_balance, history}, as BundleReport.balance's JSON): null history when the
   *  check fails or the card has no value events (which passes). */
  function checkBalance(bundle) {
    var walked;
    try {
      walked = balanceSteps(bundle);
    } catch (err) {
      if (!(err instanceof Unbalanced)) throw err;
      return { check: check("balance", false, err.message), balance: null };
    }
    var steps = walked.steps;
    if (!steps.length) {
      return { check: check("balance", true, t("no value events: the card holds no balance")),
               balance: null };
    }
    var last = steps[steps.length - 1];
    var proven = steps.filter(function (s) { return !s.pending; });
    var unproven = steps.filter(function (s) { return s.pending; });
    var reason = t("%(count)s value event(s) add up: balance %(balance)s after seq %(seq)s",
                   { count: steps.length, balance: last.balance, seq: last.seq });
    if (unproven.length) {
      reason += t("; the balance from seq %(seq)s on is pending, not proven yet",
                  { seq: unproven[0].seq });
    }
    return {
      check: check("balance", true, reason),
      balance: { kind: walked.kind, currency: walked.currency, balance: last.balance,
                 proven_balance: proven.length ? proven[proven.length - 1].balance : null,
                 history: steps },
    };
  }

  async function checkInclusion(item, checkpoint) {
    var name = "inclusion[" + item.leafIndex + "]";
    var label = t("seq %(seq)s (%(type)s)", { seq: item.seq, type: item.event.type });
    try {
      var leaf = await hashLeaf(item.leafInput);
      await verifyInclusion(item.leafIndex, checkpoint.treeSize, leaf, item.proof,
                            checkpoint.root);
    } catch (err) {
      return check(name, false, t("%(event)s: %(error)s", { event: label, error: err.message }));
    }
    return check(name, true, t("%(event)s is leaf %(leaf)s of the tree of size %(size)s",
                 { event: label, leaf: item.leafIndex, size: checkpoint.treeSize }));
  }

  /** The last proven event is the card's head in the card map that ends the checkpoint's
   *  tree (docs/card-map.md): no anchored event of the card comes after it. A version 1
   *  bundle cannot show this: a warning, or a failure when the pinned issuer serves
   *  version 2 (`serves`), a downgrade. */
  async function checkComplete(bundle, serves) {
    if (bundle.format === FORMAT_V1) {
      if (serves === FORMAT_V2) {
        return check("complete", false, t("the issuer serves %(serves)s, but this bundle is " +
                     "%(format)s: a downgrade that would hide whether later events were left " +
                     "out; fetch a fresh bundle", { serves: FORMAT_V2, format: FORMAT_V1 }));
      }
      return check("complete", true, t("%(format)s: nothing proves that no later event of the " +
                   "card was left out", { format: FORMAT_V1 }), true);
    }
    var checkpoint = bundle.checkpoint;
    var cardMap = bundle.cardMap;
    if (!checkpoint || !cardMap) {
      return check("complete", false, t("no checkpoint: nothing is anchored yet"));
    }
    var size = checkpoint.treeSize;
    var event = cardMap.event;
    if (cardMap.leafIndex !== size - 1) {
      return check("complete", false, t("the card map leaf is leaf %(leaf)s, but the " +
                   "checkpoint's tree of size %(size)s ends at leaf %(last)s",
                   { leaf: cardMap.leafIndex, size: size, last: size - 1 }));
    }
    if (event.type !== "CARD_MAP" || event.leaf_index !== cardMap.leafIndex ||
        event.tree_size !== cardMap.leafIndex || typeof event.map_root !== "string" ||
        !HASH_RE.test(event.map_root)) {
      return check("complete", false, t("leaf %(leaf)s is not a CARD_MAP leaf covering the " +
                   "%(leaf)s leaves before it", { leaf: cardMap.leafIndex }));
    }
    try {
      await verifyInclusion(cardMap.leafIndex, size, await hashLeaf(cardMap.leafInput),
                            cardMap.proof, checkpoint.root);
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      return check("complete", false, t("the CARD_MAP leaf is not in the checkpoint's tree: " +
                   "%(error)s", { error: err.message }));
    }
    var key = await cardCommitment(bundle.cardSalt, bundle.cardNumber);
    var last = bundle.events.length ? bundle.events[bundle.events.length - 1] : null;
    var value = last ? toHex(encodeHead(last.seq, last.leafIndex, await hashLeaf(last.leafInput)))
                     : null;
    try {
      await verifyMapProof(key, value, cardMap.mapProof, event.map_root);
    } catch (err) {
      if (!(err instanceof MapProofError)) throw err;
      if (err.kind === "shape") {
        return check("complete", false, t("the card map proof is malformed: %(error)s",
                                          { error: err.message }));
      }
      return check("complete", false, last === null
        ? t("the card has anchored events that the bundle does not show")
        : t("seq %(seq)s (leaf %(leaf)s) is not the card's latest event in the card map of " +
            "tree size %(size)s: later events were left out",
            { seq: last.seq, leaf: last.leafIndex, size: size - 1 }));
    }
    var shown = last
      ? t("seq %(seq)s is the card's latest event in the card map of tree size %(size)s",
          { seq: last.seq, size: size - 1 })
      : t("the card has no event in the card map of tree size %(size)s", { size: size - 1 });
    var pending = bundle.pending.length
      ? t("; %(count)s pending event(s) after it, not proven yet",
          { count: bundle.pending.length }) : "";
    return check("complete", true, shown + pending);
  }

  function formatVersion(name) {
    var tail = String(name).split("/").pop();
    return /^\d+$/.test(tail) ? parseInt(tail, 10) : 0;
  }

  /** The bundle's checkpoint names the pinned issuer's contract and chain (`pin`:
   *  {chainId, contract, serves, source}), as anchoring/bundle.py's `issuer` check; null
   *  `pin`: a warning that the only contract to ask is the one the bundle names. */
  function checkIssuer(bundle, pin) {
    var checkpoint = bundle.checkpoint;
    if (!pin) {
      return check("issuer", true, checkpoint
        ? t("no issuer pinned: the bundle names contract %(contract)s on chain %(chain)s " +
            "itself, and a look-alike server can name a contract of its own",
            { contract: checkpoint.contract, chain: checkpoint.chainId })
        : t("no issuer pinned: the bundle names no contract itself, and a look-alike server " +
            "can name a contract of its own"), true);
    }
    if (pin.serves && formatVersion(bundle.format) < formatVersion(pin.serves)) {
      return check("issuer", false, t("the issuer serves %(serves)s (%(source)s), this bundle " +
                   "is %(format)s: an older format proves less, so it is refused (a downgrade)",
                   { serves: pin.serves, source: pin.source, format: bundle.format }));
    }
    if (!checkpoint) {
      return check("issuer", true, t("pinned contract %(contract)s on chain %(chain)s",
                                     { contract: pin.contract, chain: pin.chainId }));
    }
    if (checkpoint.chainId !== pin.chainId ||
        checkpoint.contract.toLowerCase() !== pin.contract.toLowerCase()) {
      return check("issuer", false, t("the bundle names contract %(named)s on chain " +
                   "%(named_chain)s, the pinned issuer (%(source)s) is contract %(contract)s " +
                   "on chain %(chain)s", { named: checkpoint.contract,
                   named_chain: checkpoint.chainId, source: pin.source, contract: pin.contract,
                   chain: pin.chainId }));
    }
    return check("issuer", true, t("contract %(contract)s on chain %(chain)s is the pinned " +
                 "issuer's (%(source)s)",
                 { contract: pin.contract, chain: pin.chainId, source: pin.source }));
  }

  async function checkAnchor(checkpoint, rootAt) {
    if (!checkpoint) {
      return check("anchor", false, t("no checkpoint: none of these events is anchored yet"));
    }
    var onChain;
    try {
      onChain = await rootAt(checkpoint.treeSize);
    } catch (err) {
      return check("anchor", false, t("could not ask the chain: %(error)s",
                                      { error: err.message }));
    }
    if (onChain === checkpoint.root) {
      return check("anchor", true, t("contract %(contract)s holds root %(root)s for size " +
                   "%(size)s", { contract: checkpoint.contract, root: short(checkpoint.root),
                   size: checkpoint.treeSize }));
    }
    if (onChain === ZERO_ROOT) {
      return check("anchor", false, t("contract %(contract)s has no root for size %(size)s",
                   { contract: checkpoint.contract, size: checkpoint.treeSize }));
    }
    return check("anchor", false, t("contract holds root %(root)s for size %(size)s, bundle " +
                 "says %(claimed)s", { root: short(onChain), size: checkpoint.treeSize,
                 claimed: short(checkpoint.root) }));
  }

  /** The bundle's checkpoint is the contract's newest; a little older is a warning, more
   *  than the grace period a failure. `latest(size)` resolves to
   *  {treeSize, newerAge}: the contract's newest size, and the chain seconds since the
   *  first larger checkpoint was anchored (null if none is found). */
  async function checkFreshness(checkpoint, latest) {
    var size = checkpoint.treeSize;
    var head;
    try {
      head = await latest(size);
    } catch (err) {
      return check("freshness", false, t("could not ask the chain for its newest checkpoint: " +
                   "%(error)s", { error: err.message }));
    }
    if (head.treeSize === size) {
      return check("freshness", true, t("size %(size)s is the contract's newest checkpoint",
                                        { size: size }));
    }
    if (head.treeSize < size) {
      return check("freshness", false, t("the contract's newest checkpoint is size " +
                   "%(newest)s, smaller than the bundle's %(size)s",
                   { newest: head.treeSize, size: size }));
    }
    var age = head.newerAge === undefined ? null : head.newerAge;
    var since = age === null ? t("at an unknown time") : t("%(age)s s ago", { age: age });
    var stale = t("the contract has anchored a newer checkpoint (size %(newest)s; the first " +
                  "after size %(size)s was anchored %(since)s): this bundle may not show " +
                  "events recorded since", { newest: head.treeSize, size: size, since: since });
    // (`cardtrail verify --require-fresh` also fails the warning; the page shows it amber.)
    if (age !== null && age > FRESHNESS_GRACE_SECONDS) {
      return check("freshness", false, t("%(stale)s; a server still serving it more than " +
                   "%(grace)s s later is out of date or hiding them: fetch a fresh bundle " +
                   "from the card's page", { stale: stale, grace: FRESHNESS_GRACE_SECONDS }));
    }
    return check("freshness", true, t("%(stale)s; fetch a fresh bundle from the card's page",
                                      { stale: stale }), true);
  }

  /**
   * Run every check on a bundle. `rootAt(size)` resolves to the contract's root as 64 hex
   * digits; `options.chainId` is the RPC endpoint's chain id, or an async function giving
   * it; `options.cardNumber` the card the visitor asked about; `options.latest(size)`, when
   * given, the contract's newest checkpoint for the freshness check (see checkFreshness);
   * `options.issuer`, when given, adds the `issuer` check: a pin {chainId, contract, serves,
   * source}, or null for none (a warning). `rootAt` and `latest` must then ask the pinned
   * contract; they are not asked when the bundle names another. `options.serves` (by
   * default the pin's) is the format the issuer serves: a version 1 bundle then fails
   * `complete` as a downgrade. Resolves to
   * {ok, warnings: [names], checks: [{name, ok, warning, reason}], bundle, balance}:
   * `balance` is the card's balance history when the `balance` check holds and the card
   * has value events (else null), proven only when `ok` (pending steps never are).
   */
  async function verifyBundle(raw, rootAt, options) {
    options = options || {};
    var bundle;
    try {
      bundle = parseBundle(raw);
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      return finish([check("format", false, err.message)], null);
    }
    var checks = [check("format", true, t("%(format)s: %(proven)s proven, %(pending)s pending",
                        { format: bundle.format, proven: bundle.events.length,
                          pending: bundle.pending.length }))];
    var pin = options.issuer === undefined ? undefined : options.issuer;
    var pinned = pin === undefined ? null : checkIssuer(bundle, pin);
    if (pinned) checks.push(pinned);
    if (options.cardNumber !== undefined && options.cardNumber !== null) {
      checks.push(bundle.cardNumber === options.cardNumber
        ? check("card", true, t("bundle is for card %(card)s", { card: options.cardNumber }))
        : check("card", false, t("bundle is for card %(card)s, not %(asked)s",
                                 { card: bundle.cardNumber, asked: options.cardNumber })));
    }
    checks.push(await checkCommitment(bundle));
    checks.push(await checkChain(bundle));
    checks.push(checkPending(bundle));
    var balance = checkBalance(bundle);
    checks.push(balance.check);
    var checkpoint = bundle.checkpoint;
    if (checkpoint) {
      for (var i = 0; i < bundle.events.length; i++) {
        checks.push(await checkInclusion(bundle.events[i], checkpoint));
      }
    }
    var serves = options.serves || (pin ? pin.serves : null) || null;
    checks.push(await checkComplete(bundle, serves));
    if (pinned && !pinned.ok && pin) {
      checks.push(check("anchor", false, t("not asked: the bundle is not the pinned issuer's")));
      return finish(checks, bundle, balance.balance);
    }
    if (checkpoint && options.chainId !== undefined && options.chainId !== null) {
      var chainId;
      try {
        chainId = typeof options.chainId === "function" ? await options.chainId() : options.chainId;
      } catch (err) {
        checks.push(check("network", false, t("could not ask the chain: %(error)s",
                                              { error: err.message })));
        checks.push(check("anchor", false, t("not asked: the RPC endpoint did not answer")));
        return finish(checks, bundle, balance.balance);
      }
      if (chainId !== checkpoint.chainId) {
        checks.push(check("network", false, t("bundle was anchored on chain %(chain)s, the " +
                          "RPC endpoint serves chain %(served)s",
                          { chain: checkpoint.chainId, served: chainId })));
        checks.push(check("anchor", false, t("not asked: the RPC endpoint serves another chain")));
        return finish(checks, bundle, balance.balance);
      }
      checks.push(check("network", true, t("RPC endpoint serves chain %(chain)s",
                                           { chain: chainId })));
    }
    var anchor = await checkAnchor(checkpoint, rootAt);
    checks.push(anchor);
    if (anchor.ok && checkpoint && options.latest) {
      checks.push(await checkFreshness(checkpoint, options.latest));
    }
    return finish(checks, bundle, balance.balance);
  }

  function finish(checks, bundle, balance) {
    var ok = checks.length > 0 && checks.every(function (c) { return c.ok; });
    return {
      ok: ok,
      warnings: checks.filter(function (c) { return c.ok && c.warning; })
        .map(function (c) { return c.name; }),
      checks: checks,
      bundle: bundle,
      balance: balance || null,
    };
  }

  // --- the chain, by JSON-RPC ----------------------------------------------------------

  /** `rootAt(uint64)` call data: the 4-byte selector (computed server side, WebCrypto has
   *  no keccak) and the size as one 32-byte big-endian word. */
  function encodeRootAt(selector, treeSize) {
    return selector + treeSize.toString(16).padStart(64, "0");
  }

  async function rpc(url, method, params) {
    var response;
    try {
      response = await root.fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: method, params: params }),
      });
    } catch (err) {
      // A browser blocks plain-http endpoints that the page's security policy does not
      // list, with the same error as an unreachable one: say so.
      throw new Error(t("%(url)s cannot be reached (%(error)s); this page admits https:// " +
                        "endpoints and the one it suggested", { url: url, error: err.message }));
    }
    if (!response.ok) {
      throw new Error(t("%(url)s answered HTTP %(status)s", { url: url, status: response.status }));
    }
    var body = await response.json();
    if (body.error) {
      throw new Error(t("%(method)s failed: %(error)s",
                        { method: method, error: String(body.error.message).slice(0, 200) }));
    }
    return body.result;
  }

  function hexQuantity(n) {
    return "0x" + n.toString(16);
  }

  function wordAt(data, index) {
    // The index-th 32-byte word of ABI-encoded data ("0x" + hex), as hex digits.
    return data.slice(2 + index * 64, 2 + (index + 1) * 64);
  }

  function safeInt(hex, what) {
    var value = parseInt(hex, 16);
    if (!Number.isSafeInteger(value)) throw new Error(what + " is not a safe integer: " + hex);
    return value;
  }

  async function blockTimestamp(url, block) {
    var result = await rpc(url, "eth_getBlockByNumber", [block, false]);
    if (!result || typeof result.timestamp !== "string") {
      throw new Error("block " + block + " is not known to " + url);
    }
    return safeInt(result.timestamp.slice(2), "block timestamp");
  }

  /** The contract's CheckpointAnchored logs from a block on: [{treeSize, blockNumber}]. */
  async function anchoredLogs(url, contract, topic, fromBlock) {
    var logs = await rpc(url, "eth_getLogs", [{ address: contract, topics: [topic],
                                                fromBlock: hexQuantity(fromBlock),
                                                toBlock: "latest" }]);
    if (!Array.isArray(logs)) throw new Error("eth_getLogs gave no list");
    return logs.filter(function (log) { return !log.removed; }).map(function (log) {
      return { treeSize: safeInt(log.topics[1].slice(2), "tree size"),
               blockNumber: safeInt(log.blockNumber.slice(2), "block number") };
    });
  }

  /**
   * A chain client for one RPC URL and contract: chainId(), rootAt(size) and
   * latest(size, blockHint). `selectors` holds the 4-byte selectors of rootAt(uint64) and
   * latestCheckpoint() and the topic of CheckpointAnchored (computed server side: WebCrypto
   * has no keccak).
   */
  function chainClient(url, contract, selectors) {
    var selector = selectors.rootAt;
    return {
      chainId: async function () {
        var result = await rpc(url, "eth_chainId", []);
        return parseInt(result, 16);
      },
      rootAt: async function (treeSize) {
        var result = await rpc(url, "eth_call",
          [{ to: contract, data: encodeRootAt(selector, treeSize) }, "latest"]);
        if (typeof result !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(result)) {
          throw new Error(t("no LedgerAnchor contract answers at %(contract)s",
                            { contract: contract }));
        }
        return result.slice(2).toLowerCase();
      },
      /** {treeSize, newerAge} for the freshness check, as anchoring/verify_cli.py: the
       *  logs are searched from the bundle's block when its own checkpoint is there. */
      latest: async function (treeSize, blockHint) {
        var result = await rpc(url, "eth_call",
          [{ to: contract, data: selectors.latestCheckpoint }, "latest"]);
        if (typeof result !== "string" || !/^0x[0-9a-fA-F]{128}$/.test(result)) {
          throw new Error(t("no LedgerAnchor contract answers latestCheckpoint() at " +
                            "%(contract)s", { contract: contract }));
        }
        var newest = safeInt(wordAt(result, 0), "tree size");
        if (newest <= treeSize) return { treeSize: newest, newerAge: null };
        var hint = Number.isSafeInteger(blockHint) && blockHint > 0 ? blockHint : 0;
        var found = await anchoredLogs(url, contract, selectors.anchoredTopic, hint);
        if (hint && !found.some(function (log) { return log.treeSize === treeSize; })) {
          found = await anchoredLogs(url, contract, selectors.anchoredTopic, 0);
        }
        var newer = found.filter(function (log) { return log.treeSize > treeSize; });
        if (!newer.length) return { treeSize: newest, newerAge: null };
        var first = newer.reduce(function (a, b) { return b.treeSize < a.treeSize ? b : a; });
        var now = await blockTimestamp(url, "latest");
        var then = await blockTimestamp(url, hexQuantity(first.blockNumber));
        return { treeSize: newest, newerAge: Math.max(0, now - then) };
      },
    };
  }

  // --- the page ------------------------------------------------------------------------

  // The page embeds its language's catalogue (docs/portal.md, "browser catalogue"); the
  // ids are the English text, so without one (Node, English pages) the id is the message.
  var messagesNode = root.document && root.document.getElementById("cardtrail-messages");
  var MESSAGES = messagesNode ? JSON.parse(messagesNode.textContent || "{}") : {};

  /** The message `id` in the page's language, `%(name)s` replaced from `values`. */
  function t(id, values) {
    return (MESSAGES[id] || id).replace(/%\((\w+)\)s/g, function (_, k) {
      return String(values[k]);
    });
  }

  function labelFor(name) {
    var m = /^inclusion\[(\d+)\]$/.exec(name);
    if (m) return t("Event in the log (leaf %(leaf)s)", { leaf: m[1] });
    switch (name) {
      case "format": return t("Bundle format");
      case "issuer": return t("Issuer's contract");
      case "card": return t("Card number");
      case "commitment": return t("Card commitment");
      case "chain": return t("History chain (nothing left out)");
      case "pending": return t("Pending events");
      case "balance": return t("Balance history adds up");
      case "complete": return t("Latest event (card map)");
      case "network": return t("Chain network");
      case "anchor": return t("Root anchored on chain");
      case "freshness": return t("Newest checkpoint (nothing newer hidden)");
      default: return name;
    }
  }

  // What each event type leaves the card as, in the page's status words (portal/bundles.py's
  // status keys): a verified history of a used, blocked, voided or expired card is never
  // shown as a card to accept.
  // A gift holds, hands over or gives back an unused card (an offer is made only from an
  // unused state, and a withdrawal or lapse returns it there); so does a cancelled pickup.
  var STATE_AFTER = {
    ISSUED: "unused", CLAIMED: "unused", TRANSFERRED: "unused",
    PICKUP_REQUESTED: "used", PICKUP_READY: "used", PICKUP_SHIPPED: "used",
    PICKUP_REVIEWED: "used", PICKUP_MOVED: "used", PICKUP_CANCELLED: "unused",
    PICKUP_COMPLETED: "used", REDEEMED: "used",
    GIFT_OFFERED: "unused", GIFT_ACCEPTED: "unused", GIFT_RETURNED: "unused",
    GIFT_WITHDRAWN: "unused",
    BLOCKED: "blocked", VOIDED: "voided", EXPIRED: "expired",
  };

  /** The card's status after `events` (in order): unused, used, blocked, voided or expired.
   *  UNBLOCKED returns to the status before the block. A stored-value or count card's
   *  REDEEMED spends part of its balance: only a count card's last use leaves it used. */
  function statusAfter(events) {
    var status = "unused";
    var beforeBlock = "unused";
    var kind = "pickup";
    events.forEach(function (item) {
      var type = item.event.type;
      var data = dataOf(item.event);
      if (type === "ISSUED") kind = typeof data.kind === "string" ? data.kind : "pickup";
      if (type === "REDEEMED" && VALUE_KINDS.indexOf(kind) >= 0) {
        if (kind === "count" && data.balance === 0) status = "used";
      } else if (type === "UNBLOCKED") {
        status = beforeBlock;
      } else if (STATE_AFTER[type]) {
        if (type === "BLOCKED" && status !== "blocked") beforeBlock = status;
        status = STATE_AFTER[type];
      }
    });
    return status;
  }

  function statusSentence(status) {
    switch (status) {
      case "used": return t("The proofs hold, and they show that this card has been used. Do not accept it.");
      case "blocked": return t("The proofs hold, and they show that the merchant has blocked this card. Do not accept it.");
      case "voided": return t("The proofs hold, and they show that the merchant voided this card. It has no value.");
      case "expired": return t("The proofs hold, and they show that this card has expired. Do not accept it.");
      default: return null;
    }
  }

  /** The verdict: what holds, for which card status, checked against which contract. */
  function verdictText(result, pin) {
    if (!result.ok) {
      return t("Verification FAILED: %(checks)s.", {
        checks: result.checks.filter(function (c) { return !c.ok; })
          .map(function (c) { return labelFor(c.name); }).join(", "),
      });
    }
    var warned = result.warnings || [];
    var status = result.bundle ? statusAfter(result.bundle.all) : "unused";
    var headline = statusSentence(status);
    if (headline === null && warned.indexOf("freshness") >= 0) {
      headline = t("Verified, but not the newest checkpoint: the chain has anchored more of " +
        "the log since this bundle was made, so it may not show the card's latest events. " +
        "Press “Verify again” in a minute to fetch a fresh bundle.");
    } else if (headline === null && warned.indexOf("complete") >= 0) {
      headline = t("Verified, but this is a version 1 bundle: nothing proves that it shows " +
        "the card's latest event.");
    } else if (headline === null) {
      headline = t("Verified in your browser: every proven event is in the log anchored on " +
        "chain, at the contract's newest checkpoint.");
    }
    var checkpoint = result.bundle && result.bundle.checkpoint;
    if (!checkpoint) return headline;
    var basis = pin
      ? t("Checked against the issuer's pinned contract %(contract)s on chain %(chain)s.",
          { contract: pin.contract, chain: pin.chainId })
      : t("Checked against a contract this server names (%(contract)s on chain %(chain)s), " +
          "not one pinned in advance: compare it with the address the merchant publishes.",
          { contract: checkpoint.contract, chain: checkpoint.chainId });
    return headline + " " + basis;
  }

  function render(panel, result, pin) {
    var doc = panel.ownerDocument;
    var list = panel.querySelector("#checks");
    list.textContent = "";
    result.checks.forEach(function (c) {
      var row = doc.createElement("li");
      var warn = c.ok && c.warning;
      row.className = "check " + (warn ? "warn" : c.ok ? "pass" : "fail");
      row.setAttribute("data-check", c.name);
      row.setAttribute("data-ok", String(c.ok));
      row.setAttribute("data-warning", String(Boolean(warn)));
      var mark = doc.createElement("span");
      mark.className = "mark";
      mark.textContent = warn ? "⚠" : c.ok ? "✔" : "✘";
      var label = doc.createElement("strong");
      label.textContent = labelFor(c.name);
      var reason = doc.createElement("span");
      reason.className = "reason";
      reason.textContent = c.reason;
      row.append(mark, " ", label, " — ", reason);
      list.appendChild(row);
    });
    var verdict = panel.querySelector("#verdict");
    var warned = result.warnings || [];
    var status = result.bundle ? statusAfter(result.bundle.all) : "unused";
    // Green only for what a visitor may act on: every check holds without a caveat, for
    // an unused card. A genuine history of a used card is amber, never green.
    var green = result.ok && !warned.length && status === "unused";
    verdict.className = "verdict " + (green ? "pass" : result.ok ? "warn" : "fail");
    verdict.setAttribute("data-ok", String(result.ok));
    verdict.setAttribute("data-fresh", String(result.ok && warned.indexOf("freshness") < 0));
    verdict.setAttribute("data-status", status);
    verdict.setAttribute("data-pinned", String(Boolean(pin)));
    verdict.textContent = verdictText(result, pin);
    renderBalance(doc, result);
  }

  // --- the balance history on the card page ------------------------------------------

  /** `value` as the card page shows amounts: minor units with two decimals and the
   *  ISSUED currency (as the issue's face value), or a count card's uses; `signed` puts
   *  + before a credit. */
  function formatValue(balance, value, signed) {
    var sign = value < 0 ? "−" : signed && value > 0 ? "+" : "";
    var abs = Math.abs(value);
    if (balance.kind === "count") return sign + t("%(count)s use(s)", { count: abs });
    var text = Math.floor(abs / 100) + "." + String(abs % 100).padStart(2, "0");
    return sign + text + (balance.currency ? " " + balance.currency : "");
  }

  /** The event's words and time as the page's story shows them (the server's words for
   *  its own event types), else the type. */
  function storyOf(doc, step) {
    var item = doc.querySelector('.timeline li[data-leaf="' + step.leaf_index + '"]');
    var label = item && item.querySelector("strong");
    var time = item && item.querySelector("time");
    return { label: label ? label.textContent : step.type, time: time ? time.textContent : "" };
  }

  function cell(doc, tag, text, className) {
    var node = doc.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function balanceRow(doc, balance, step) {
    var row = doc.createElement("tr");
    row.className = step.pending ? "pending" : "proven";
    row.setAttribute("data-seq", String(step.seq));
    row.setAttribute("data-balance", String(step.balance));
    row.setAttribute("data-pending", String(step.pending));
    var story = storyOf(doc, step);
    var what = cell(doc, "td", story.label);
    if (story.time) what.append(" ", cell(doc, "time", story.time));
    var change = step.type === "ACTIVATED" || step.type === "ISSUED"
      ? t("opening balance") : formatValue(balance, step.amount, true);
    row.append(what, cell(doc, "td", change, "amount"),
               cell(doc, "td", formatValue(balance, step.balance, false), "amount"),
               cell(doc, "td", step.pending ? t("not yet proven") : t("proven"),
                    "badge " + (step.pending ? "pending-badge" : "anchored-badge")));
    return row;
  }

  /** What the page says above the history: the verified balance, and plainly that a
   *  balance after a pending (not yet anchored) event is not proven yet. */
  function balanceSentence(balance) {
    var steps = balance.history;
    var last = steps[steps.length - 1];
    if (!last.pending) {
      return t("Balance: %(balance)s, proven by the anchored log (after seq %(seq)s).",
               { balance: formatValue(balance, last.balance, false), seq: last.seq });
    }
    var now = t("Balance now: %(balance)s, not yet proven: the events marked “not yet " +
                "proven” are recorded but not anchored on chain yet.",
                { balance: formatValue(balance, last.balance, false) });
    return now + " " + (balance.proven_balance === null
      ? t("No balance of this card is proven yet.")
      : t("Last proven balance: %(balance)s.",
          { balance: formatValue(balance, balance.proven_balance, false) }));
  }

  /** Fill #balance (outside the technical details): the verified balance history when the
   *  whole bundle verifies, else why it is not verified. Hidden for a card without
   *  value events. */
  function renderBalance(doc, result) {
    var section = doc.getElementById("balance");
    if (!section) return;
    var failed = result.checks.filter(function (c) { return c.name === "balance" && !c.ok; })[0];
    var balance = result.balance;
    var verified = Boolean(result.ok && balance);
    section.hidden = !(balance || failed);
    section.setAttribute("data-verified", String(verified));
    var table = section.querySelector("#balance-history");
    var body = table.querySelector("tbody");
    var now = section.querySelector("#balance-now");
    body.textContent = "";
    table.hidden = !verified;
    if (failed) {
      now.className = "balance-now fail";
      now.textContent = t("The balance history does not add up, so no balance is shown: " +
                          "%(reason)s", { reason: failed.reason });
      return;
    }
    if (!verified) {
      now.className = "balance-now fail";
      now.textContent = t("The balance is not verified: the proofs of this card's history " +
                          "failed (see the technical details).");
      return;
    }
    var last = balance.history[balance.history.length - 1];
    now.className = "balance-now " + (last.pending ? "pending" : "proven");
    section.setAttribute("data-balance", String(balance.balance));
    section.setAttribute("data-proven-balance", String(balance.proven_balance));
    now.textContent = balanceSentence(balance);
    balance.history.forEach(function (step) { body.appendChild(balanceRow(doc, balance, step)); });
  }

  /** The issuer the page is pinned to: the server's configured one (its descriptor), never
   *  the contract a bundle names; null when the server has none configured. */
  function pinOf(panel) {
    var contract = panel.getAttribute("data-pinned-contract") || "";
    var chainId = parseInt(panel.getAttribute("data-pinned-chain-id") || "", 10);
    if (!ADDRESS_RE.test(contract) || !Number.isSafeInteger(chainId)) return null;
    return { contract: contract, chainId: chainId,
             serves: panel.getAttribute("data-pinned-serves") || null,
             source: t("this server's published issuer descriptor") };
  }

  async function runPage(panel) {
    var verdict = panel.querySelector("#verdict");
    verdict.className = "verdict running";
    verdict.removeAttribute("data-ok");
    verdict.textContent = t("Verifying in your browser…");
    panel.querySelector("#checks").textContent = "";
    var balanceSection = panel.ownerDocument.getElementById("balance");
    if (balanceSection) balanceSection.hidden = true;
    var rpcUrl = panel.querySelector("#rpc-url").value.trim();
    var pin = pinOf(panel);
    var raw;
    try {
      var response = await root.fetch(panel.getAttribute("data-bundle-url"),
                                       { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      raw = await response.json();
      // signatures.js checks the device signatures of the same events.
      panel.dispatchEvent(new root.CustomEvent("cardtrail:bundle", { detail: raw }));
    } catch (err) {
      var fetchFailed = t("could not fetch the bundle: %(error)s", { error: err.message });
      render(panel, finish([check("format", false, fetchFailed)], null), pin);
      return;
    }
    // Pinned, the chain is asked about the pinned contract only; a bundle naming another
    // fails the issuer check and nothing is asked.
    var contract = pin ? pin.contract : raw && raw.checkpoint && raw.checkpoint.contract;
    var blockHint = raw && raw.checkpoint && raw.checkpoint.block_number;
    var client = chainClient(rpcUrl, contract, {
      rootAt: panel.getAttribute("data-root-at-selector"),
      latestCheckpoint: panel.getAttribute("data-latest-checkpoint-selector"),
      anchoredTopic: panel.getAttribute("data-anchored-topic"),
    });
    var result = await verifyBundle(raw, client.rootAt, {
      chainId: client.chainId,
      cardNumber: panel.getAttribute("data-card-number"),
      latest: function (size) { return client.latest(size, blockHint); },
      issuer: pin,
    });
    render(panel, result, pin);
  }

  function wire(doc) {
    var panel = doc.getElementById("verifier");
    if (!panel) return;
    panel.hidden = false;
    panel.querySelector("#rpc-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      runPage(panel);
    });
    runPage(panel);
  }

  var api = {
    FORMAT: FORMAT,
    BundleError: BundleError,
    ProofError: ProofError,
    MapProofError: MapProofError,
    verifyMapProof: verifyMapProof,
    mapRoot: mapRoot,
    canonicalize: canonicalize,
    sha256: sha256,
    toHex: toHex,
    hashLeaf: hashLeaf,
    rootFromInclusionProof: rootFromInclusionProof,
    verifyInclusion: verifyInclusion,
    cardCommitment: cardCommitment,
    parseBundle: parseBundle,
    verifyBundle: verifyBundle,
    FRESHNESS_GRACE_SECONDS: FRESHNESS_GRACE_SECONDS,
    encodeRootAt: encodeRootAt,
    chainClient: chainClient,
    statusAfter: statusAfter,
    verdictText: verdictText,
    balanceSentence: balanceSentence,
    formatValue: formatValue,
    renderBalance: renderBalance,
    t: t,
  };

  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.CardTrailVerify = api;
    if (root.document) {
      if (root.document.readyState === "loading") {
        root.document.addEventListener("DOMContentLoaded", function () { wire(root.document); });
      } else {
        wire(root.document);
      }
    }
  }
})(typeof window !== "undefined" ? window : globalThis);
