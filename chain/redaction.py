"""The one place secrets are taken out of text before it leaves the process.

RPC and broker URLs carry credentials in production: ``https://node.example/v3/KEY``,
``...?apikey=KEY``, ``amqp://user:PASSWORD@host``. Anything shown on a page, answered by the
API, stored as an error, logged or printed goes through ``redact`` first. A URL keeps its
scheme, host and port (enough to tell which node or broker is meant) and loses its user
information, path, query and fragment. Plain Python, no Django: ``chain/`` uses it in its own
error messages, and ``config`` applies it to every log record.
"""

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"

# A URL as it appears inside free text: scheme://, then anything up to whitespace, a quote or
# a closing bracket. Trailing punctuation of the sentence is not part of it.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>`)\]}]+")
_TRAILING = ".,;:!?"


def redact_url(url: str) -> str:
    """``url`` reduced to scheme, host and port, with ``***`` where anything else was.

    ``https://node.example/v3/KEY`` -> ``https://node.example/***``;
    ``amqp://guest:pw@127.0.0.1:5672//`` -> ``amqp://***@127.0.0.1:5672/***``;
    ``http://127.0.0.1:8545`` is unchanged (nothing secret in it).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        # Not parseable as a URL (a bad port, say): keep only the scheme.
        scheme = url.split("://", 1)[0]
        return f"{scheme}://{MASK}"
    netloc = (f"{MASK}@" if ("@" in parts.netloc) else "") + (f"[{host}]" if ":" in host else host)
    if port is not None:
        netloc += f":{port}"
    tail = ""
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        tail = f"/{MASK}"
    return f"{parts.scheme}://{netloc}{tail}"


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL reduced by ``redact_url`` and every string in ``secrets`` masked.

    ``secrets`` are exact strings known to be secret wherever they appear (private keys,
    keystore passwords, whole configured URLs); empty ones and ones shorter than 6 characters
    are ignored, since masking ``"a"`` everywhere would say more than it hides. A URL among
    them also has its password, path and query masked where they appear on their own.
    """
    named = {s for s in secrets if s and len(s) >= 6}
    for secret in sorted(named | {part for s in named if "://" in s for part in _url_parts(s)}, key=len, reverse=True):
        text = text.replace(secret, redact_url(secret) if "://" in secret else MASK)
    return _URL.sub(_redact_match, text)


def _url_parts(url: str) -> set[str]:
    """The secret parts of ``url`` that may appear without it: password, path and query.

    A transport error quotes them on their own (``Max retries exceeded with url: /v3/KEY``).
    """
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:
        return set()
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    found = {password, parts.path, parts.query, path_and_query, parts.fragment}
    return {part for part in found if len(part) >= 6 and part.strip("/")}


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    stripped = url.rstrip(_TRAILING)
    return redact_url(stripped) + url[len(stripped) :]
