"""The state-snapshot pages: the list, and one snapshot with a per-account proof lookup.

Anyone may read them; they work without JavaScript. Taking, verifying and committing snapshots
are the committee's, through ``manage.py snapshot`` and the API.
"""

from io import BytesIO

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render

from archive.document import LEAF_ENCODING
from archive.exceptions import SnapshotNotFound
from archive.selectors import commitment_of, failed_periodic_run, read_snapshot_file
from web import selectors_archive as selectors
from web.access import not_found

NAV = "snapshots"


def snapshot_list(request: HttpRequest) -> HttpResponse:
    """``/state-snapshots/``: every snapshot, newest block first, with its root, file hash and
    commitment; and a warning when the latest periodic run failed."""
    page = selectors.list_snapshot_page(page=request.GET.get("page"))
    context = {"page": page, "snapshots": page.object_list, "failed_run": failed_periodic_run(), "nav": NAV}
    return render(request, "web/archive/list.html", context)


def snapshot_detail(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """``/state-snapshots/<id>/``: the record, and ``?address=`` an account's leaves with their proofs."""
    snapshot = selectors.find_snapshot(snapshot_id)
    if snapshot is None:
        return not_found(request, f"There is no state snapshot {snapshot_id}.", nav=NAV)
    context = {
        "snapshot": snapshot,
        "commitment": commitment_of(snapshot),
        "leaf_encoding": ", ".join(LEAF_ENCODING),
        "nav": NAV,
    }
    status = 200
    query = request.GET.get("address", "")
    if query:
        account, error = selectors.parse_lookup_address(query)
        context["query"] = query
        if account is None:
            context["lookup_error"], status = error, 400
        else:
            answer, error = selectors.lookup_proof(snapshot, account)
            context["answer"], context["lookup_error"] = answer, error
            if answer is None:
                status = 409
    return render(request, "web/archive/detail.html", context, status=status)


def snapshot_file(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """``/state-snapshots/<id>/file``: the archived file itself (gzipped JSON), named by its SHA-256."""
    snapshot = selectors.find_snapshot(snapshot_id)
    if snapshot is None:
        return not_found(request, f"There is no state snapshot {snapshot_id}.", nav=NAV)
    try:
        data = read_snapshot_file(snapshot)
    except SnapshotNotFound as error:
        return not_found(request, error.message, nav=NAV)
    return FileResponse(
        BytesIO(data), as_attachment=True, filename=snapshot.storage_name, content_type="application/gzip"
    )
