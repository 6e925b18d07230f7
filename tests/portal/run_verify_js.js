// Runs portal/static/verify.js on every bundle case file given on the command line and
// prints one JSON line per case: the checks verify.js reports and the balance history.
// With `--pin=CONTRACT` first, verify.js is pinned to that contract on the case's chain,
// serving the case's `serves` format (as the card page is pinned to its server's
// configured issuer).
// Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const verify = require(path.resolve(__dirname, "../../portal/static/verify.js"));

async function main() {
  let files = process.argv.slice(2);
  let contract = null;
  if (files.length && files[0].startsWith("--pin=")) {
    contract = files[0].slice("--pin=".length);
    files = files.slice(1);
  }
  const results = {};
  for (const file of files) {
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    const roots = c.chain.roots;
    const rootAt = async (size) => roots[String(size)] || "0".repeat(64);
    const latest = c.chain.latest;
    const options = {
      chainId: async () => c.chain.chain_id,
      cardNumber: c.card_number,
      latest: async () => ({ treeSize: latest.tree_size, newerAge: latest.newer_age }),
    };
    if (contract !== null) {
      options.issuer = { chainId: c.chain.chain_id, contract, serves: c.serves || null,
                         source: "the test's pin" };
    }
    const report = await verify.verifyBundle(c.bundle, rootAt, options);
    results[path.basename(file, ".json")] = {
      ok: report.ok, warnings: report.warnings, checks: report.checks, balance: report.balance,
    };
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { console.error(err); process.exit(1); });
