// Runs portal/static/signatures.js on the device-signature case files given on the command
// line (one JSON result per case), or hashes hex inputs with its keccak-256 (--keccak HEX…).
// Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const sig = require(path.resolve(__dirname, "../../portal/static/signatures.js"));

const args = process.argv.slice(2);
if (args[0] === "--keccak") {
  process.stdout.write(JSON.stringify(args.slice(1).map((h) => sig.toHex(sig.keccak256(sig.fromHex(h))))));
} else {
  const results = {};
  for (const file of args) {
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    const r = sig.checkEvent(c.event, c.card_number, c.store_keys);
    results[path.basename(file, ".json")] = { ok: r.ok, registered: r.registered, recovered: r.recovered };
  }
  process.stdout.write(JSON.stringify(results));
}
