"""A webhook receiver on loopback, as a neighbour system would run one: it verifies each request's
Standard Webhooks signature with the `standardwebhooks` library and keeps what it accepted.

`answers` queues the statuses to give (200 when it runs out); a request whose signature does not
verify is answered 401 and kept in `refused`. `tolerance=False` checks the signature but not
the timestamp's distance from the wall clock, for tests whose clock is not at today's time (the
library's `verify` always compares with the wall clock, five minutes either way). `hold_after`:
once that many were accepted, each further request waits for `gate` before it is taken (a worker
can be killed while they are in flight).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fakes import LoopbackHTTPServer, Recorded, Reply


def signature_matches(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The signature check alone, with the library's own signing (no clock involved)."""
    headers = {k.lower(): v for k, v in headers.items()}
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], at, body.decode("utf-8"))
    return expected in headers["webhook-signature"].split(" ")


class Receiver(LoopbackHTTPServer):
    def __init__(
        self, secret: str | None = None, *, tolerance: bool = True, path: str = "/hook", hold_after: int | None = None
    ):
        super().__init__()
        self.secret, self.tolerance, self.path, self.hold_after = secret, tolerance, path, hold_after
        self.answers: deque[int] = deque()
        self.accepted: list[Recorded] = []
        self.refused: list[Recorded] = []
        self.held = 0
        self.gate = threading.Event()

    def respond(self, request: Recorded) -> Reply:
        if request.path != self.path:
            return Reply(404, b"no such path")
        if self.hold_after is not None:
            with self.arrived:
                hold = len(self.accepted) >= self.hold_after
                self.held += hold
                self.arrived.notify_all()
            if hold:
                self.gate.wait(60)
        if self.secret is not None and not self._verified(request):
            with self.arrived:
                self.refused.append(request)
            return Reply(401, b"bad signature")
        status = self.answers.popleft() if self.answers else 200
        if 200 <= status < 300:
            with self.arrived:
                self.accepted.append(request)
        return Reply(status, b'{"ok": true}' if status < 300 else b"receiver trouble " * 100)

    def _verified(self, request: Recorded) -> bool:
        try:
            if self.tolerance:
                Webhook(self.secret).verify(request.body, request.headers)
                return True
            return signature_matches(self.secret, request.headers, request.body)
        except (WebhookVerificationError, KeyError, ValueError):
            return False

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.accepted]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.accepted]

    @property
    def url(self) -> str:
        return super().url + self.path
