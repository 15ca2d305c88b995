"""A stand-in for a real tenant: only the confirmed read, over real HTTP on 127.0.0.1.

It answers `GET /api/3.03/workorderlines?page=&limit=` with rows of the
confirmed shape (tests/real_rows.py by default) and Epoptia's exact 400
``Command `<command>` for api version 3.03 not found`` for everything else,
as the public integration found on a live tenant. It checks X-Auth-Token and
counts what it was asked.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from .real_rows import pages

PREFIX = "/api/3.03/"


class ConfirmedTenant:
    def __init__(self, key: str, rows_by_page: list[list[Any]] | None = None) -> None:
        self.key = key
        self.pages = rows_by_page if rows_by_page is not None else pages()
        self.seen: Counter[str] = Counter()
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                tenant.seen[f"{self.command} {url.path}"] += 1
                if self.headers.get("X-Auth-Token") != tenant.key:
                    self._send(401, b'{"error": "Unauthorized"}', "application/json")
                    return
                if self.command == "GET" and url.path == PREFIX + "workorderlines":
                    query = parse_qs(url.query)
                    page = int(query.get("page", ["1"])[0])
                    rows = tenant.pages[page - 1] if 1 <= page <= len(tenant.pages) else []
                    body = {"workorderLines": rows, "numberOfPages": len(tenant.pages)}
                    self._send(200, json.dumps(body, ensure_ascii=False).encode(), "application/json")
                    return
                command = url.path[len(PREFIX) :] if url.path.startswith(PREFIX) else url.path
                self._send(400, f"Command `{command}` for api version 3.03 not found".encode(), "text/plain")

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ConfirmedTenant:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def writes(self) -> int:
        return sum(n for what, n in self.seen.items() if what.startswith("POST"))
