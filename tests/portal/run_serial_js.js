// Runs serial.js's check of each handover in a case file (argv[2]: {serial, checkpoint,
// anchored_root, handovers}) and prints a JSON list: null for a handover that holds up,
// else the reason. Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const path = require("path");
const serial = require(path.resolve(__dirname, "../../portal/static/serial.js"));

async function main() {
  const c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = [];
  for (const item of c.handovers) {
    out.push(await serial.checkHandover(item, c.serial, c.checkpoint, c.anchored_root));
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
