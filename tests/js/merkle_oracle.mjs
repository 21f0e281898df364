// Test oracle: answers questions about @openzeppelin/merkle-tree's StandardMerkleTree so the
// Python tests can compare recovery/merkle.py with the reference implementation.
//
// Reads one JSON request on stdin, writes one JSON response on stdout. A request is either a
// single operation or {"op": "batch", "requests": [...]}, answered with an array. Library
// errors are answered as {"error": message} so tests can assert on rejections too.
//
//   {"op": "of", "values": [...], "encoding": [...], "sortLeaves"?: bool, "withProofs"?: bool}
//       -> {"root", "dump", "leafHashes", and unless withProofs is false:
//           "proofs": [getProof(i)], "proofsByValue": [getProof(values[i])]}
//   {"op": "load", "dump": {...}}
//       -> {"root", "proofs", "verified": every proof verifies (instance and static verify)}
//   {"op": "verify", "root", "encoding", "value", "proof"} -> {"valid"}
//   {"op": "multiProof", "values", "encoding", "indices", "sortLeaves"?}
//       -> {"root", "multiProof": {"leaves", "proof", "proofFlags"}, "valid"}
//   {"op": "verifyMultiProof", "root", "encoding", "multiProof"} -> {"valid"}
//   {"op": "leafHash", "encoding", "value"} -> {"hash"}
//
// Uints travel as decimal strings: JSON has no bigint and the library accepts strings.

import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

function proofsOf(tree) {
  const proofs = [];
  for (const [i] of tree.entries()) {
    proofs.push(tree.getProof(i));
  }
  return proofs;
}

const operations = {
  of({ values, encoding, sortLeaves = true, withProofs = true }) {
    const tree = StandardMerkleTree.of(values, encoding, { sortLeaves });
    const answer = { root: tree.root, dump: tree.dump(), leafHashes: values.map(value => tree.leafHash(value)) };
    if (withProofs) {
      answer.proofs = proofsOf(tree);
      answer.proofsByValue = values.map(value => tree.getProof(value));
    }
    return answer;
  },

  load({ dump }) {
    const tree = StandardMerkleTree.load(dump);
    const proofs = proofsOf(tree);
    const encoding = dump.leafEncoding;
    const verified = proofs.every(
      (proof, i) => tree.verify(i, proof) && StandardMerkleTree.verify(tree.root, encoding, tree.at(i), proof),
    );
    return { root: tree.root, proofs, verified };
  },

  verify({ root, encoding, value, proof }) {
    return { valid: StandardMerkleTree.verify(root, encoding, value, proof) };
  },

  multiProof({ values, encoding, indices, sortLeaves = true }) {
    const tree = StandardMerkleTree.of(values, encoding, { sortLeaves });
    const multiProof = tree.getMultiProof(indices);
    return { root: tree.root, multiProof, valid: tree.verifyMultiProof(multiProof) };
  },

  verifyMultiProof({ root, encoding, multiProof }) {
    return { valid: StandardMerkleTree.verifyMultiProof(root, encoding, multiProof) };
  },

  leafHash({ encoding, value }) {
    const tree = StandardMerkleTree.of([value], encoding);
    return { hash: tree.leafHash(value) };
  },
};

function answer(request) {
  const operation = operations[request.op];
  if (operation === undefined) {
    return { error: `unknown op ${JSON.stringify(request.op)}` };
  }
  try {
    return operation(request);
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
}

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const response = request.op === 'batch' ? request.requests.map(answer) : answer(request);
process.stdout.write(JSON.stringify(response));
