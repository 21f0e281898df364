"""``python -m snapshothub serve|seed-votes``: run the local Snapshot hub, or seed synthetic votes."""

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from snapshothub.evm import Evm, redact_url
from snapshothub.hub import Hub
from snapshothub.seed import SeedError, seed_votes
from snapshothub.spaces import SpacesFileError, load_spaces
from snapshothub.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m snapshothub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the hub (sequencer at /, GraphQL at /graphql)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=3400, help="port (0 picks a free one; default %(default)s)")
    serve.add_argument(
        "--rpc-url",
        default=os.environ.get("SNAPSHOTHUB_RPC_URL", ""),
        help="the EVM node voting power and EIP-1271 are read from (default: $SNAPSHOTHUB_RPC_URL, which keeps a "
        "URL with credentials out of the process list)",
    )
    serve.add_argument("--spaces", required=True, help="JSON file: a list of spaces")
    serve.add_argument("--db", required=True, help="sqlite3 file of the hub's messages, proposals and votes")
    serve.add_argument("--ready-file", default="", help="written with the base URL once listening")
    serve.add_argument(
        "--finalize-delay",
        type=int,
        default=0,
        help="seconds after a proposal's end before its scores turn final (the real sequencer: 60; default 0)",
    )
    serve.add_argument(
        "--body-limit", type=int, default=0, help="proposal body limit in characters (0: only the 100 kB message limit)"
    )
    seed = commands.add_parser("seed-votes", help="insert synthetic votes directly into a hub's store")
    seed.add_argument("--db", required=True)
    seed.add_argument("--proposal", required=True)
    seed.add_argument("--count", type=int, required=True)
    seed.add_argument("--start-created", type=int, default=None, help="created of the first vote (default: start)")
    seed.add_argument(
        "--signed", action="store_true", help="real signed Vote messages (power 0) instead of random ids and signatures"
    )
    return parser


def _serve(options: Any) -> int:
    from snapshothub.server import make_hub_server

    if options.host not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(f"refusing to listen on {options.host}: the local hub listens on 127.0.0.1 only\n")
        return 2
    if not options.rpc_url:
        sys.stderr.write("no node: give --rpc-url URL or set SNAPSHOTHUB_RPC_URL\n")
        return 2
    try:
        spaces = load_spaces(options.spaces)
    except SpacesFileError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    hub = Hub(
        store=Store(options.db),
        evm=Evm(options.rpc_url),
        spaces=spaces,
        finalize_delay=max(0, options.finalize_delay),
        body_limit=options.body_limit or None,
    )
    try:
        server = make_hub_server(hub, options.host, options.port)
    except OSError as error:
        sys.stderr.write(f"cannot listen on {options.host}:{options.port}: {error.strerror}; pick another --port\n")
        return 2
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"

    def _stop(signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.getLogger("snapshothub").info(
        "snapshot hub on %s (spaces %s; node %s)", url, ", ".join(sorted(spaces)), redact_url(options.rpc_url)
    )
    if options.ready_file:
        ready = Path(options.ready_file)
        partial = ready.with_name(ready.name + f".{os.getpid()}.tmp")
        partial.write_text(url + "\n")
        partial.replace(ready)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def _seed(options: Any) -> int:
    hub = Hub(store=Store(options.db), evm=Evm("http://127.0.0.1:1"), spaces={})
    try:
        count = seed_votes(
            hub,
            proposal_id=options.proposal,
            count=options.count,
            start_created=options.start_created,
            signed=options.signed,
        )
    except SeedError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write(f"seeded {count} votes on {options.proposal}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if options.command == "serve":
        return _serve(options)
    return _seed(options)


if __name__ == "__main__":
    sys.exit(main())
