// Runs portal/static/verify.js's card map proof check on every card map vector file given
// on the command line (tests/vectors/card-map) and prints one JSON object: file name ->
// {valid, error, root}. A MapProofError is a rejection (its kind is the error); any other
// error is a bug and ends the run. roots.json gives the roots verify.js builds for its maps.
// Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const verify = require(path.resolve(__dirname, "../../portal/static/verify.js"));

async function verdict(c) {
  const root = await verify.mapRoot(c.entries);
  try {
    await verify.verifyMapProof(c.key, c.value, c.proof, c.root);
    return { valid: true, error: null, root };
  } catch (err) {
    if (!(err instanceof verify.MapProofError)) throw err;
    return { valid: false, error: err.kind, reason: err.message, root };
  }
}

async function main() {
  const results = {};
  for (const file of process.argv.slice(2)) {
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    const name = path.basename(file);
    if (Array.isArray(c)) {
      results[name] = await Promise.all(c.map((m) => verify.mapRoot(m.entries)));
    } else {
      results[name] = await verdict(c);
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { console.error(err); process.exit(1); });
