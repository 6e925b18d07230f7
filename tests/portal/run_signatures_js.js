// Runs portal/static/signatures.js on the device-signature case files given on the command
// line (one JSON result per case), hashes hex inputs with its keccak-256 (--keccak HEX…), or
// prints the EIP-712 domain separators of deployments (--domain CHAIN_ID:CONTRACT… ; "v1"
// for the version 1 domain that names none). Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const sig = require(path.resolve(__dirname, "../../portal/static/signatures.js"));

const args = process.argv.slice(2);
if (args[0] === "--keccak") {
  process.stdout.write(JSON.stringify(args.slice(1).map((h) => sig.toHex(sig.keccak256(sig.fromHex(h))))));
} else if (args[0] === "--domain") {
  const separators = args.slice(1).map((arg) => {
    const [chainId, contract] = arg.split(":");
    const deployment = arg === "v1" ? null : { chain_id: Number(chainId), contract: contract };
    return sig.toHex(sig.domainSeparator(deployment));
  });
  process.stdout.write(JSON.stringify(separators));
} else {
  const results = {};
  for (const file of args) {
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    const r = sig.checkEvent(c.event, c.card_number, c.store_keys, c.deployments);
    results[path.basename(file, ".json")] = {
      ok: r.ok, registered: r.registered, recovered: r.recovered, bound: r.bound,
      version: r.version, signed_amount: r.signed_amount, amount: r.amount,
    };
  }
  process.stdout.write(JSON.stringify(results));
}
