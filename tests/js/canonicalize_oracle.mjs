// Test oracle: RFC 8785 canonical JSON by the `canonicalize` npm package (an independent
// implementation), so the Python tests can compare proposals/document.py's bytes with it.
//
// Reads one JSON value on stdin and writes its canonical form on stdout, nothing else.

import canonicalize from 'canonicalize';

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
process.stdout.write(canonicalize(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
