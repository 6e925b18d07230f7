// Runs portal/static/verify.js on every bundle case file given on the command line and
// prints one JSON line per case: the checks verify.js reports. Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const verify = require(path.resolve(__dirname, "../../portal/static/verify.js"));

async function main() {
  const results = {};
  for (const file of process.argv.slice(2)) {
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    const roots = c.chain.roots;
    const rootAt = async (size) => roots[String(size)] || "0".repeat(64);
    const latest = c.chain.latest;
    const report = await verify.verifyBundle(c.bundle, rootAt, {
      chainId: async () => c.chain.chain_id,
      cardNumber: c.card_number,
      latest: async () => ({ treeSize: latest.tree_size, newerAge: latest.newer_age }),
    });
    results[path.basename(file, ".json")] = {
      ok: report.ok, warnings: report.warnings, checks: report.checks,
    };
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { console.error(err); process.exit(1); });
