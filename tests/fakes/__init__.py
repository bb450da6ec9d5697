"""Local stand-ins for the outside services the channels talk to.

Each one is a real server on a loopback port, so the code under test goes through its real
client library, sockets and all. LoopbackHTTPServer is the shared base for the HTTP ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class _Server(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: a client opening a dozen connections at
    # once has some dropped by the kernel, stalled for seconds and then reset.
    request_queue_size = 128


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 and a free port. Subclasses (or `respond`) decide the
    answer; every request is recorded first. Use as a context manager: it always stops."""

    def __init__(self, respond: Callable[[Recorded], Reply] | None = None):
        self.requests: list[Recorded] = []
        self._respond = respond
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                with server.arrived:
                    server.requests.append(recorded)
                    server.arrived.notify_all()
                reply = server.respond(recorded)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def respond(self, request: Recorded) -> Reply:
        if self._respond is None:
            return Reply(200, b"{}")
        return self._respond(request)

    def start(self) -> LoopbackHTTPServer:
        # serve_forever notices shutdown() only between polls; the default 0.5 s would be paid
        # by every test that stops a server.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
