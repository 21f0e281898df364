// Build the pages' front-end files from npm packages (`make assets`; the results are committed).
//
//   node web/assets/build.mjs [--out DIR]
//
// Writes, under DIR (default: the repository root):
//   web/static/web/wallet.js    web/assets/src/wallet.js bundled with viem (window.Lifeboat)
//   web/static/web/htmx.min.js  htmx's own minified build, copied
//   tests/browser/axe.min.js    axe-core, for the browser tests only (never served)
//
// The output depends only on the sources and the pinned packages (no timestamps, no absolute
// paths), so tests/web/test_assets.py rebuilds into a temporary DIR and compares bytes.
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(path.join(root, "package.json"));

function outputRoot(argv) {
  const at = argv.indexOf("--out");
  if (at === -1) return root;
  if (!argv[at + 1]) throw new Error("--out needs a directory");
  return path.resolve(argv[at + 1]);
}

const out = outputRoot(process.argv.slice(2));
const staticDir = path.join(out, "web", "static", "web");
const browserTests = path.join(out, "tests", "browser");
await mkdir(staticDir, { recursive: true });
await mkdir(browserTests, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: ["web/assets/src/wallet.js"],
  outfile: path.join(staticDir, "wallet.js"),
  bundle: true,
  format: "iife",
  platform: "browser",
  // BigInt literals (amounts in base units) need ES2020.
  target: ["es2020"],
  minify: true,
  legalComments: "eof",
  sourcemap: false,
  charset: "utf8",
  logLevel: "warning",
});

await copyFile(require.resolve("htmx.org/dist/htmx.min.js"), path.join(staticDir, "htmx.min.js"));
await copyFile(require.resolve("axe-core/axe.min.js"), path.join(browserTests, "axe.min.js"));
