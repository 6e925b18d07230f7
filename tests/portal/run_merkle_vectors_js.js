// Runs portal/static/verify.js's inclusion check on every RFC 9162 inclusion vector file
// given on the command line (tests/vectors/rfc6962/inclusion) and prints one JSON object:
// file path -> {ok, reason}. A ProofError is a rejection; any other error is a bug and
// ends the run. Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const verify = require(path.resolve(__dirname, "../../portal/static/verify.js"));

// The vectors hold base64; verify.js takes the leaf hash as bytes and the others as hex.
const bytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));
const hex = (b64) => Buffer.from(b64, "base64").toString("hex");

async function verdict(c) {
  try {
    await verify.verifyInclusion(c.leafIdx, c.treeSize, bytes(c.leafHash),
                                 (c.proof || []).map(hex), hex(c.root));
    return { ok: true, reason: null };
  } catch (err) {
    if (!(err instanceof verify.ProofError)) throw err;
    return { ok: false, reason: err.message };
  }
}

async function main() {
  const results = {};
  for (const file of process.argv.slice(2)) {
    results[file] = await verdict(JSON.parse(fs.readFileSync(file, "utf8")));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { console.error(err); process.exit(1); });
