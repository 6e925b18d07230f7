// Hardhat 2 configuration for CardTrail's contract toolchain.
//
// Compiler version and settings come from contracts/compiler.json, the file that
// scripts/compile_contracts.py (the py-solc-x path) reads too, so both produce the same
// bytecode as the committed artifact contracts/LedgerAnchor.json.
//
//   npx hardhat compile                          # offline: uses node_modules/solc
//   npx hardhat node --hostname 127.0.0.1        # local development chain (chain id 31337)

process.env.HARDHAT_DISABLE_TELEMETRY_PROMPT = "true";

const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const compiler = require("./contracts/compiler.json");

// Hardhat would otherwise download its compiler; hand it the pinned solcjs from
// node_modules instead, so compiling needs no network.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== compiler.version) {
    return runSuper();
  }
  const solc = require("solc");
  const longVersion = solc.version().replace(/\.Emscripten\.clang$/, "");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion,
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: compiler.version,
    settings: compiler.settings,
  },
  paths: {
    sources: "./contracts",
    cache: "./hardhat-cache",
    artifacts: "./hardhat-artifacts",
  },
  networks: {
    hardhat: {
      chainId: 31337,
    },
    localhost: {
      url: "http://127.0.0.1:8545",
      chainId: 31337,
    },
  },
};
