"""A webhook receiver as a process of its own, so that a test can kill it for real.

    python receiver_process.py PORT RECORD_FILE SECRET DIE_AFTER

Listens on 127.0.0.1:PORT (0: any free port) and prints the port once it listens. Each request
whose Standard Webhooks signature verifies has its webhook-id appended to RECORD_FILE (flushed to
disk) and is answered 200. The DIE_AFTER-th one (0: never) is recorded and then the process kills
itself with SIGKILL before answering: as a receiver dies between taking an event and saying so.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def main() -> None:
    port, record, secret, die_after = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    lock = threading.Lock()
    taken = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            at = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), tz=UTC)
            expected = Webhook(secret).sign(self.headers["webhook-id"], at, body.decode("utf-8"))
            if expected not in self.headers["webhook-signature"].split(" "):
                return self._answer(401)
            with lock:
                with open(record, "a") as out:
                    out.write(self.headers["webhook-id"] + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                taken[0] += 1
                if taken[0] == die_after:
                    os.kill(os.getpid(), signal.SIGKILL)
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
