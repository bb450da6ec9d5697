"""A local fake of Twilio's Messages API (POST /2010-04-01/Accounts/{Sid}/Messages.json).

It checks what the real API checks first: the account in the path, HTTP basic auth with the
account SID and auth token, and the form fields (To, Body, and From or MessagingServiceSid).
It also insists on StatusCallback, because our transport must always ask for delivery reports.
Accepted messages are recorded and answered with a Twilio-shaped 201; `fail_next` queues error
answers (status + Twilio code) to exercise the transport's classification.

The fake does not model segmentation: num_segments is always "1" in its answers.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections import deque
from urllib.parse import parse_qs

from tests.fakes import LoopbackHTTPServer, Recorded, Reply

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


class FakeTwilio(LoopbackHTTPServer):
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token"):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self._failures: deque[tuple[int, int | None, str]] = deque()

    def fail_next(self, status: int, code: int | None, message: str = "error") -> None:
        self._failures.append((status, code, message))

    def respond(self, request: Recorded) -> Reply:
        match = _PATH.match(request.path)
        if request.method != "POST" or not match:
            return _error(404, 20404, "The requested resource was not found")
        if match["sid"] != self.account_sid:
            return _error(404, 20404, f"Account {match['sid']} not found")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _error(401, 20003, "Authenticate")
        if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return _error(400, 20001, "form encoding expected")
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        if not form.get("To"):
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not form.get("StatusCallback"):
            return _error(400, 99999, "fake: StatusCallback missing")
        if self._failures:
            status, code, message = self._failures.popleft()
            return _error(status, code, message)
        sid = "SM" + secrets.token_hex(16)
        with self.arrived:
            self.messages.append(form)
        body = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "accepted" if form.get("MessagingServiceSid") and not form.get("From") else "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return Reply(201, json.dumps(body).encode())


def _error(status: int, code: int | None, message: str) -> Reply:
    body: dict = {"message": message, "status": status}
    if code is not None:  # a gateway error in front of Twilio carries no Twilio code
        body.update(code=code, more_info=f"https://www.twilio.com/docs/errors/{code}")
    return Reply(status, json.dumps(body).encode())
