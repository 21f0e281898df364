"""A JSON-RPC proxy on 127.0.0.1 in front of the session's anvil, for node faults in tests.

Subclasses decide per request, in ``forward``, whether the request reaches anvil (and may act
first, e.g. cancel an analysis) or the connection is dropped, as a dying node drops it.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RpcProxy:
    def __init__(self, upstream: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not proxy.forward(body):
                    self.close_connection = True
                    self.connection.close()
                    return
                reply = requests.post(upstream, data=body, headers={"Content-Type": "application/json"}, timeout=10)
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, body: bytes) -> bool:
        """Whether this request reaches the node; False drops the connection unanswered."""
        return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
