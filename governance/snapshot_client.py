"""HTTP to a Snapshot sequencer (signed messages) and hub (GraphQL), as snapshot.js and the hub's UI speak it.

Each request times out after ``settings.SNAPSHOT_HTTP_TIMEOUT_SECONDS`` and is tried up to
``settings.SNAPSHOT_HTTP_ATTEMPTS`` times on a connection error, a timeout or a 5xx answer,
waiting ``SNAPSHOT_HTTP_BACKOFF_SECONDS`` before the second try and twice as long before each
next one. Posting the same envelope again is safe: the sequencer refuses a message it already
holds ("duplicate message"), and the caller knows the id it was after.

URLs may carry credentials: no message here names one but through ``redact_url``.
Every HTTP request made is counted in ``REQUEST_COUNTS`` (keys ``post`` and ``graphql``) and,
when given, in the caller's ``counter``, so a benchmark can report the queries it took.
"""

import json
import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from chain.redaction import redact, redact_url
from governance.snapshot_errors import SnapshotHubError, SnapshotRefused, SnapshotUnavailable

REQUEST_COUNTS: Counter[str] = Counter()
_local = threading.local()
_count_lock = threading.Lock()


def _session() -> requests.Session:
    """One keep-alive session per thread (a ``requests.Session`` is not shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _count(kind: str, counter: Counter[str] | None) -> None:
    with _count_lock:
        REQUEST_COUNTS[kind] += 1
        if counter is not None:
            counter[kind] += 1


def _post_json(url: str, payload: Any, *, kind: str, what: str, counter: Counter[str] | None) -> requests.Response:
    """POST ``payload`` as JSON, retried with backoff; the first answer below 500 is returned.

    ``SnapshotUnavailable`` (503, the URL redacted) when every attempt failed to connect, timed
    out or answered 5xx.
    """
    attempts = max(1, int(settings.SNAPSHOT_HTTP_ATTEMPTS))
    delay = float(settings.SNAPSHOT_HTTP_BACKOFF_SECONDS)
    timeout = float(settings.SNAPSHOT_HTTP_TIMEOUT_SECONDS)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    last = ""
    for attempt in range(1, attempts + 1):
        _count(kind, counter)
        try:
            response = _session().post(url, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as error:
            last = redact(f"{type(error).__name__}: {error}", secrets=[url])
        else:
            if response.status_code < 500:
                return response
            last = redact(f"HTTP {response.status_code}: {_reason(response)[:300]}", secrets=[url])
        if attempt < attempts:
            time.sleep(delay)
            delay *= 2
    raise SnapshotUnavailable(
        f"the Snapshot {what} at {redact_url(url)} did not answer after {attempts} attempts (last: {last}); "
        "try again later, nothing was lost",
        url=redact_url(url),
        attempts=attempts,
    )


def _reason(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text
    if isinstance(answer, dict) and "error_description" in answer:
        return str(answer["error_description"])
    return response.text


def post_message(sequencer_url: str, envelope: dict[str, Any], *, counter: Counter[str] | None = None) -> dict:
    """Post the signed ``envelope`` ``{address, sig, data}`` to the sequencer; its answer ``{id, ipfs, ...}``.

    ``SnapshotRefused`` (409) for a 4xx: ``detail`` carries the sequencer's ``error`` and
    ``error_description`` word for word (e.g. "duplicate message", "wrong timestamp").
    ``SnapshotUnavailable`` (503) after every retry failed; ``SnapshotHubError`` (502) for an
    answer that is not a JSON object.
    """
    response = _post_json(sequencer_url, envelope, kind="post", what="sequencer", counter=counter)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400:
        error = answer.get("error", "") if isinstance(answer, dict) else ""
        description = (
            answer.get("error_description", "")
            if isinstance(answer, dict)
            else redact(response.text[:300], secrets=[sequencer_url])
        )
        if not isinstance(description, str):
            description = json.dumps(description)
        raise SnapshotRefused(
            f"the Snapshot sequencer at {redact_url(sequencer_url)} refused the message: {description}",
            error=error,
            error_description=description,
            http_status=response.status_code,
        )
    if not isinstance(answer, dict):
        raise SnapshotHubError(
            f"the Snapshot sequencer at {redact_url(sequencer_url)} answered HTTP {response.status_code} with "
            "something that is not a JSON object",
            url=redact_url(sequencer_url),
        )
    return answer


def graphql(
    hub_url: str, query: str, variables: dict[str, Any] | None = None, *, counter: Counter[str] | None = None
) -> dict:
    """Run ``query`` on the hub's GraphQL endpoint; its ``data``.

    Numbers with a fraction come back as ``Decimal`` exactly as the hub wrote them (a quorum
    of ``0.1`` stays one tenth). ``SnapshotHubError`` (502) when the hub answers GraphQL
    ``errors`` (their messages quoted), a 4xx or no JSON; ``SnapshotUnavailable`` (503) after
    every retry failed.
    """
    response = _post_json(
        hub_url, {"query": query, "variables": variables or {}}, kind="graphql", what="hub", counter=counter
    )
    try:
        answer = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("errors"):
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in answer["errors"])
        raise SnapshotHubError(
            f"the Snapshot hub at {redact_url(hub_url)} answered the query with errors: {messages}",
            url=redact_url(hub_url),
            errors=messages,
        )
    if response.status_code >= 400 or not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise SnapshotHubError(
            f"the Snapshot hub at {redact_url(hub_url)} answered HTTP {response.status_code} without GraphQL data "
            f"({redact(response.text[:200], secrets=[hub_url])!r}); is it a hub's GraphQL endpoint?",
            url=redact_url(hub_url),
            http_status=response.status_code,
        )
    return answer["data"]
