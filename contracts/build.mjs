#!/usr/bin/env node
// Compile every contract under contracts/src with the npm `solc` pinned in package.json and write
// one JSON artifact per project contract to contracts/artifacts/.
//
// Usage (from the repository root): node contracts/build.mjs   (what `make contracts` runs)
//
// The artifacts are committed, so the Python side can deploy and decode contracts without a
// Solidity toolchain. Two properties matter because of that:
//   * Determinism: the same sources always produce byte-identical files, so `git diff` after a
//     rebuild shows only real changes.
//   * Staleness detection: each artifact records sha256 hashes of the project sources it was built
//     from; tests/contracts/test_artifacts.py compares them with the files on disk.

import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC_DIR = path.join(ROOT, "contracts", "src");
const ARTIFACTS_DIR = path.join(ROOT, "contracts", "artifacts");
const NODE_MODULES = path.join(ROOT, "node_modules");
// Test helpers (benchmarks) may exceed the mainnet size limit: anvil can lift it for them.
const SIZE_LIMIT_EXEMPT_PREFIX = "contracts/src/test/";
// EIP-170 limit on deployed code size.
const MAX_DEPLOYED_SIZE = 24_576;

const OPTIMIZER = { enabled: true, runs: 200 };
const EVM_VERSION = "cancun";

// Resolve solc from the repository's node_modules, not from wherever node happens to be run.
const require = createRequire(path.join(ROOT, "package.json"));
const solc = require("solc");

/** Repo-relative POSIX path: used as the solc source unit name and in artifacts. */
function repoPath(absolute) {
  return path.relative(ROOT, absolute).split(path.sep).join("/");
}

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every .sol file under `dir`, sorted so the compiler input (and thus the output) is stable. */
function collectSources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...collectSources(full));
    else if (entry.isFile() && entry.name.endsWith(".sol")) found.push(full);
  }
  return found.sort();
}

/**
 * solc import callback. Source unit names are repo-relative, so relative imports inside project
 * files arrive here already resolved (e.g. "contracts/src/Foo.sol"), and package imports arrive as
 * "@openzeppelin/contracts/...". Anything else is refused rather than read from an arbitrary path.
 */
function findImports(importPath) {
  let candidate;
  if (importPath.startsWith("@openzeppelin/")) {
    candidate = path.join(NODE_MODULES, importPath);
  } else if (importPath.startsWith("contracts/src/")) {
    candidate = path.join(ROOT, importPath);
  } else {
    return { error: `Import outside contracts/src and @openzeppelin is not allowed: ${importPath}` };
  }
  const normalized = path.normalize(candidate);
  if (!normalized.startsWith(NODE_MODULES + path.sep) && !normalized.startsWith(SRC_DIR + path.sep)) {
    return { error: `Import escapes its root: ${importPath}` };
  }
  try {
    return { contents: fs.readFileSync(normalized, "utf8") };
  } catch (err) {
    return { error: `Cannot read ${importPath}: ${err.message}` };
  }
}

/** JSON.stringify with object keys sorted at every level, so output never depends on insertion order. */
function stableStringify(value) {
  const sortKeys = (v) => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sortKeys(v[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

function main() {
  const started = process.hrtime.bigint();

  const files = collectSources(SRC_DIR);
  if (files.length === 0) fail(`no .sol files under ${repoPath(SRC_DIR)}`);

  // Hash the exact bytes on disk; the test recomputes the same hashes to detect stale artifacts.
  const sources = {};
  const projectSourceHashes = {};
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    const name = repoPath(file);
    sources[name] = { content: bytes.toString("utf8") };
    projectSourceHashes[name] = sha256(bytes);
  }

  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: OPTIMIZER,
      evmVersion: EVM_VERSION,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };

  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  const diagnostics = output.errors ?? [];
  const errors = diagnostics.filter((d) => d.severity === "error");
  for (const d of diagnostics.filter((d) => d.severity !== "error")) {
    const file = d.sourceLocation?.file ?? "";
    if (file.startsWith("contracts/src/")) {
      console.warn(d.formattedMessage ?? d.message);
    } else {
      // Warnings inside pinned dependencies are not ours to fix: keep them to one line each.
      console.warn(`warning (dependency ${file || "unknown"}): ${d.message}`);
    }
  }
  if (errors.length > 0) {
    for (const d of errors) console.error(d.formattedMessage ?? d.message);
    fail(`compilation failed with ${errors.length} error(s)`);
  }

  const solcVersion = solc.version();
  const ozVersion = JSON.parse(
    fs.readFileSync(path.join(NODE_MODULES, "@openzeppelin", "contracts", "package.json"), "utf8"),
  ).version;

  // Build all artifacts in memory first so a failure (duplicate name, size) leaves the directory untouched.
  const artifacts = new Map();
  const oversized = [];
  for (const sourcePath of Object.keys(sources)) {
    const contracts = output.contracts?.[sourcePath] ?? {};
    for (const contractName of Object.keys(contracts).sort()) {
      if (artifacts.has(contractName)) {
        fail(
          `contract name ${contractName} is defined in both ${artifacts.get(contractName).sourcePath} ` +
            `and ${sourcePath}; artifacts are keyed by name, so names must be unique`,
        );
      }
      const compiled = contracts[contractName];
      const deployedBytecode = "0x" + compiled.evm.deployedBytecode.object;
      const deployedSize = (deployedBytecode.length - 2) / 2;
      const exempt = sourcePath.startsWith(SIZE_LIMIT_EXEMPT_PREFIX);
      if (deployedSize > MAX_DEPLOYED_SIZE && !exempt) oversized.push(`${contractName} (${deployedSize} bytes)`);

      artifacts.set(contractName, {
        contractName,
        sourcePath,
        abi: compiled.abi,
        bytecode: "0x" + compiled.evm.bytecode.object,
        deployedBytecode,
        compiler: { solc: solcVersion, optimizer: OPTIMIZER, evmVersion: EVM_VERSION },
        openzeppelinContracts: ozVersion,
        sourceHash: projectSourceHashes[sourcePath],
        projectSourceHashes,
        // Not written to disk; only used for the size report below.
        _deployedSize: deployedSize,
        _exempt: exempt,
      });
    }
  }

  for (const file of files) {
    const name = repoPath(file);
    if (![...artifacts.values()].some((a) => a.sourcePath === name)) {
      fail(`${name} defines no contract, interface or library; every file under contracts/src must`);
    }
  }

  if (oversized.length > 0) {
    fail(`deployed size exceeds ${MAX_DEPLOYED_SIZE} bytes (EIP-170): ${oversized.join(", ")}`);
  }

  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  let written = 0;
  for (const [contractName, { _deployedSize, _exempt, ...artifact }] of [...artifacts].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    const target = path.join(ARTIFACTS_DIR, `${contractName}.json`);
    const text = stableStringify(artifact);
    // Leave unchanged files alone so their mtimes do not churn (make and editors notice).
    if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) {
      fs.writeFileSync(target, text);
      written += 1;
    }
    const size = _deployedSize === 0 ? "no code (interface/abstract)" : `${_deployedSize} bytes`;
    console.log(`  ${contractName.padEnd(28)} ${size}${_exempt ? "  [test helper, size limit not enforced]" : ""}`);
  }

  // Artifacts of contracts that were deleted or renamed would otherwise linger and mislead.
  let removed = 0;
  for (const entry of fs.readdirSync(ARTIFACTS_DIR)) {
    if (entry.endsWith(".json") && !artifacts.has(entry.slice(0, -".json".length))) {
      fs.rmSync(path.join(ARTIFACTS_DIR, entry));
      console.log(`  removed stale artifact ${entry}`);
      removed += 1;
    }
  }

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `Compiled ${files.length} source file(s) with solc ${solcVersion}: ${artifacts.size} artifact(s), ` +
      `${written} updated, ${removed} removed, in ${seconds.toFixed(1)}s.`,
  );
}

main();
