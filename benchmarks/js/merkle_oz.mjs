// Benchmark side for @openzeppelin/merkle-tree: build a StandardMerkleTree over the first
// COUNT [address, amount] values of a JSON file and report the build time and root.
//
//   node --max-old-space-size=4096 benchmarks/js/merkle_oz.mjs VALUES.json COUNT
//
// Prints one JSON line: {"seconds", "cpuSeconds", "loadSeconds", "peakRssMb", "leaves", "root"}.
// Only StandardMerkleTree.of() is timed; reading and parsing the file is reported separately.
// peakRssMb is this process's VmHWM (getrusage's maxrss would carry the launcher's peak over).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const [file, countArg] = process.argv.slice(2);
if (!file || !countArg) {
  process.stderr.write('usage: merkle_oz.mjs VALUES.json COUNT\n');
  process.exit(2);
}

const loadStart = performance.now();
const values = JSON.parse(readFileSync(file, 'utf8')).slice(0, Number(countArg));
const loadSeconds = (performance.now() - loadStart) / 1000;

const cpuStart = process.cpuUsage();
const start = performance.now();
const tree = StandardMerkleTree.of(values, ['address', 'uint256']);
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;

const status = readFileSync('/proc/self/status', 'utf8');
const peakRssMb = Number(/^VmHWM:\s+(\d+)/m.exec(status)[1]) / 1024;

const report = { seconds, cpuSeconds, loadSeconds, peakRssMb, leaves: values.length, root: tree.root };
process.stdout.write(JSON.stringify(report) + '\n');
