// Runs the inline script of a built verifier (argv[2]) in a fresh context, as a browser
// would but with no page beyond the file's message catalogue, then verifies the bundle
// case file argv[3] (and a malformed copy of it) with the functions it defines and prints
// one JSON object. Node ≥ 20, no packages.
"use strict";
const fs = require("fs");
const vm = require("vm");

async function main() {
  const html = fs.readFileSync(process.argv[2], "utf8");
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  // Only the catalogue's data block is found: the page's form is not driven here.
  const catalogue = /<script type="application\/json" id="cardtrail-messages">([\s\S]*?)<\/script>/
    .exec(html);
  const document = {
    getElementById: (id) => (id === "cardtrail-messages" && catalogue
      ? { textContent: catalogue[1] } : null),
  };
  const context = vm.createContext({ crypto: globalThis.crypto, TextEncoder, console, document });
  vm.runInContext(scripts[0], context);
  const c = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
  const roots = c.chain.roots;
  const verify = (bundle) => context.CardTrailVerify.verifyBundle(
    bundle, async (size) => roots[String(size)] || "0".repeat(64), {
      chainId: async () => c.chain.chain_id,
      cardNumber: c.card_number,
      latest: async () => ({ treeSize: c.chain.latest.tree_size, newerAge: c.chain.latest.newer_age }),
    });
  const report = await verify(c.bundle);
  const malformed = await verify(Object.assign({}, c.bundle, { events: "none" }));
  const app = context.CardTrailVerifier;
  const pinned = { contract: c.bundle.checkpoint.contract, chain_id: c.bundle.checkpoint.chain_id };
  const other = { contract: "0x" + "ab".repeat(20), chain_id: c.bundle.checkpoint.chain_id };
  console.log(JSON.stringify({
    scripts: scripts.length,
    ok: report.ok,
    balanceSentence: report.balance && context.CardTrailVerify.balanceSentence(report.balance),
    malformed: malformed.checks,
    selectors: context.CARDTRAIL_SELECTORS,
    parsed: app.parseCardInput(process.argv[4]),
    bundleUrl: app.bundleUrl({ api_origin: "https://cards.example.com" }, "ABC"),
    pinnedOk: app.pinCheck(c.bundle, pinned).ok,
    otherOk: app.pinCheck(c.bundle, other).ok,
  }));
}

main().catch((err) => { console.error(err); process.exit(1); });
