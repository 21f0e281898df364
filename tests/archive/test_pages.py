"""The snapshot pages: the list, one snapshot with the proof lookup, the file download, the errors."""

import gzip
import re

from django.test import Client
from django.urls import reverse

from archive import services
from archive.document import decode_snapshot


def test_the_list_shows_each_snapshot_with_its_block_root_and_hash(tracked):
    empty = Client().get(reverse("snapshots-page"))
    assert empty.status_code == 200 and b'data-testid="no-snapshots"' in empty.content
    snapshot = services.take_snapshot()
    html = Client().get(reverse("snapshots-page")).content.decode()
    for shown in (str(snapshot.block), snapshot.root, snapshot.sha256, reverse("snapshot-page", args=[snapshot.pk])):
        assert shown in html
    assert re.search(r'aria-current="page"[^>]*>Archive</a>', html)


def test_a_holder_looks_up_their_leaves_and_proofs_without_javascript(tracked):
    snapshot = services.take_snapshot()
    holder = tracked.holders[2]
    for typed in (holder, holder.lower()):  # a lowercase address is taken too
        response = Client().get(reverse("snapshot-page", args=[snapshot.pk]), {"address": typed})
        html = response.content.decode()
        assert response.status_code == 200
        assert 'data-testid="leaf-0"' in html and snapshot.root in html and "<script" not in html.split("<main")[1]
        leaf = next(leaf for leaf in decode_snapshot(_file(snapshot)).leaves if leaf[0] == holder)
        assert str(leaf[2]) in html


def test_an_account_with_nothing_is_told_so(tracked):
    snapshot = services.take_snapshot()
    nobody = "0x" + "00" * 19 + "07"
    html = Client().get(reverse("snapshot-page", args=[snapshot.pk]), {"address": nobody}).content.decode()
    assert 'data-testid="no-leaves"' in html


def test_a_bad_address_is_a_400_page_saying_why(tracked):
    snapshot = services.take_snapshot()
    for typed, needle in (("0x1234", "not an address"), ("0x" + "aB" * 20, "checksum")):
        response = Client().get(reverse("snapshot-page", args=[snapshot.pk]), {"address": typed})
        assert response.status_code == 400 and needle in response.content.decode()


def test_an_unknown_snapshot_is_a_404_page(db):
    response = Client().get(reverse("snapshot-page", args=[987_654]))
    assert response.status_code == 404 and "no state snapshot 987654" in response.content.decode()
    assert Client().get(reverse("snapshot-file", args=[987_654])).status_code == 404


def test_the_file_downloads_as_stored(tracked, snapshot_dir):
    snapshot = services.take_snapshot()
    response = Client().get(reverse("snapshot-file", args=[snapshot.pk]))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and body == (snapshot_dir / snapshot.storage_name).read_bytes()
    assert snapshot.storage_name in response["Content-Disposition"]
    assert gzip.decompress(body).startswith(b"{")


def _file(snapshot) -> bytes:
    from archive.selectors import read_snapshot_file

    return read_snapshot_file(snapshot)
