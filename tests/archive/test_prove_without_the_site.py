"""After a disaster a holder proves their balance from the archived file alone: the file (downloaded
once, checked against the SHA-256 committed on chain), OpenZeppelin's own merkle-tree package, and
the registry's ``proves`` view, with nothing of Lifeboat's code or database."""

import gzip
import hashlib
import json

from django.test import Client
from django.urls import reverse

from archive import services
from chain.snapshot_registry import committed_snapshot, registry_proves
from tests.recovery.test_merkle import js_of


def test_a_holder_proves_their_leaf_on_chain_from_the_file_and_openzeppelins_package(w3, tracked, chain_settings):
    snapshot = services.commit_snapshot(snapshot=services.take_snapshot())
    data = b"".join(Client().get(reverse("snapshot-file", args=[snapshot.pk])).streaming_content)

    # From here on: the file, the chain and @openzeppelin/merkle-tree only.
    registry = tracked.address("snapshot_registry")
    on_chain = committed_snapshot(w3, registry, snapshot.block)
    assert "0x" + hashlib.sha256(data).hexdigest() == on_chain.content_hash
    document = json.loads(gzip.decompress(data))
    answer = js_of(document["leaves"], tuple(document["leaf_encoding"]))
    assert answer["root"] == on_chain.root
    holder = tracked.holders[0]
    mine = [(i, leaf) for i, leaf in enumerate(document["leaves"]) if leaf[0] == holder]
    assert mine, "the holder has a leaf"
    for i, (account, asset, amount) in mine:
        proof = answer["proofsByValue"][i]
        kwargs = {"block": document["block"], "account": account, "asset": asset, "proof": proof}
        assert registry_proves(w3, registry, amount=int(amount), **kwargs)
        assert not registry_proves(w3, registry, amount=int(amount) - 1, **kwargs)
