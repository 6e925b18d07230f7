"""A valid issuer descriptor, and a tiny HTTP server on 127.0.0.1 serving fixed answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], bytes | list[bytes]]
"""Status, headers, and the body: bytes, or chunks sent :data:`DRIP_SECONDS` apart."""

DRIP_SECONDS = 0.4

DESCRIPTOR = {
    "format": "cardtrail-issuer/1",
    "name": {"zh": "示例酒业", "en": "Example Liquor"},
    "chain_id": 31337,
    "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "deployment_block": 3,
    "api_origin": "https://cards.example.com",
    "rpc_urls": ["https://rpc.example.com", "http://127.0.0.1:8545"],
    "serves": "cardtrail-bundle/2",
}


@contextmanager
def serving(routes: dict[str, Answer]) -> Iterator[str]:
    """Serve ``routes`` (path → status, headers, body); yield the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = routes.get(self.path, (404, {}, b"not here"))
            chunks = body if isinstance(body, list) else [body]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
            self.end_headers()
            for i, chunk in enumerate(chunks):
                if i:
                    self.wfile.flush()
                    time.sleep(DRIP_SECONDS)
                self.wfile.write(chunk)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
