// Runs the in-browser verifier (portal/static/verify.js) under Node on one bundle file,
// asking the chain itself over JSON-RPC as the card page does, and prints its report as
// JSON. Usage: node verify_on_chain.js BUNDLE.json RPC_URL CARD_NUMBER ROOT_AT_SELECTOR
//                LATEST_CHECKPOINT_SELECTOR ANCHORED_TOPIC [CONTRACT CHAIN_ID SERVES]
// With CONTRACT, verify.js is pinned to that issuer as the card page is to its server's
// configured one: the chain is asked about CONTRACT, never the one the bundle names.
"use strict";
const fs = require("fs");
const path = require("path");
const verify = require(path.resolve(__dirname, "../../portal/static/verify.js"));

async function main() {
  const [file, rpcUrl, cardNumber, rootAt, latestCheckpoint, anchoredTopic,
         pinnedContract, pinnedChainId, serves] = process.argv.slice(2);
  const raw = JSON.parse(fs.readFileSync(file, "utf8"));
  const pin = pinnedContract
    ? { contract: pinnedContract, chainId: Number(pinnedChainId), serves: serves || null,
        source: "the campaign's pin" }
    : null;
  const contract = pin ? pin.contract : raw && raw.checkpoint && raw.checkpoint.contract;
  const blockHint = raw && raw.checkpoint && raw.checkpoint.block_number;
  const client = verify.chainClient(rpcUrl, contract, { rootAt, latestCheckpoint, anchoredTopic });
  const report = await verify.verifyBundle(raw, client.rootAt, {
    chainId: client.chainId,
    cardNumber: cardNumber,
    latest: (size) => client.latest(size, blockHint),
    issuer: pin,
  });
  process.stdout.write(JSON.stringify({ ok: report.ok, warnings: report.warnings,
                                        checks: report.checks }));
}

main().catch((err) => { console.error(err); process.exit(1); });
