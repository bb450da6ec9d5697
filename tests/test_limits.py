"""Limits before reading: a body over its route family's limit is refused before the application
reads it, and the connection is closed so that the rest is never read. Measured on a real server
with a client that streams 200 MB from a generator (never held in memory) and counts what the
server took before answering."""

from __future__ import annotations

import re
import select
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from dunning.app import create_app
from dunning.guards import KIB, MIB
from tests.conftest import new_key
from tests.server import serving

TOTAL = 200 * MIB
CHUNK = 64 * KIB
# What the kernel's socket buffers on both ends may have taken before the server's answer
# arrived: the client cannot tell those bytes from bytes the server read.
BUFFERS = 16 * MIB


@dataclass
class Upload:
    status: int | None  # None: the connection was closed before an answer could be read
    sent: int  # bytes the generator gave and the socket accepted
    rss_growth: int  # bytes this process (server included: it runs in a thread here) grew by


def rss() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def chunks(total: int):
    block = b"x" * CHUNK
    for _ in range(total // CHUNK):
        yield block


def upload(url: str, path: str, headers: dict[str, str], *, declared: bool) -> Upload:
    """POST `TOTAL` bytes, with a Content-Length or chunked, reading the answer as soon as there is one."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {TOTAL}" if declared else "Transfer-Encoding: chunked",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    before, sent, answer = rss(), 0, b""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        body = chunks(TOTAL)
        pending = b""
        while True:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                try:
                    answer = sock.recv(65536)
                except ConnectionResetError:
                    pass
                break
            if not pending:
                block = next(body, None)
                if block is None:
                    pending = b"0\r\n\r\n" if not declared else b""
                    if not pending:
                        readable, _, _ = select.select([sock], [], [], 30)
                        answer = sock.recv(65536) if readable else b""
                        break
                else:
                    pending = block if declared else b"%x\r\n%s\r\n" % (len(block), block)
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                try:  # the server answered and closed: its answer may still be waiting to be read
                    answer = sock.recv(65536)
                except OSError:
                    pass
                break
            sent += n
            pending = pending[n:]
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return Upload(status, sent, rss() - before)


@pytest.fixture
def served(settings, committed_db, clock):
    settings = settings.model_copy(update={"twilio_auth_token": "twilio-token", "inbound_email_secret": "mail-secret"})
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    key = new_key(committed_db, clock, ["ingest"])
    with serving(app) as url:
        yield url, key, settings


@pytest.mark.committed
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "path, auth",
    [
        ("/v1/inbound/email", "key"),  # a valid key: the body is read up to the inbound mail limit
        ("/v1/inbound/email", "wrong key"),  # refused from the headers: nothing of the body is read
        ("/v1/inbound/email", "signature"),  # the signature needs the body: read up to the limit
        ("/v1/inbound/twilio/sms", "signature"),  # a signed-looking webhook: up to the webhooks' 64 KiB
        ("/v1/inbound/twilio/sms", "none"),  # not signed at all: refused from the headers
    ],
)
def test_a_200_mb_body_is_refused_without_being_read(served, path, auth, declared):
    url, key, settings = served
    headers = {
        "key": {"Authorization": f"Bearer {key}"},
        "wrong key": {"Authorization": "Bearer wrong"},
        "signature": {"X-Dunning-Signature": "sha256=00", "X-Twilio-Signature": "AAAA"},
        "none": {},
    }[auth]
    limit = settings.inbound_email_max_bytes if path.endswith("email") else 64 * KIB
    result = upload(url, path, headers, declared=declared)
    # A declared length over the limit is refused first; a chunked body only once it passes the
    # limit, unless the headers alone already refuse it.
    expected = 413 if declared else {"key": 413, "signature": 413, "wrong key": 401, "none": 403}[auth]
    assert result.status in (expected, None), result
    read_at_most = 0 if declared or auth in ("wrong key", "none") else limit
    assert result.sent <= read_at_most + BUFFERS, result
    assert result.rss_growth < 2 * read_at_most + 64 * MIB, result  # today: +390 MB per request
    if result.status is None:
        pytest.fail(f"no answer could be read: {result}")


@pytest.mark.parametrize(
    "path, limit",
    [
        ("/v1/invoices/bulk", 32 * MIB),
        ("/v1/inbound/twilio/status", 64 * KIB),
        ("/portal/some-token/promise", MIB),
        ("/desk/login", MIB),
        ("/unsubscribe/some-token", MIB),
        ("/v1/policies/default", MIB),
    ],
)
def test_each_route_family_has_its_limit(app, path, limit):
    client = TestClient(app, raise_server_exceptions=False)
    over = client.post(path, content=b"x", headers={"content-length": str(limit + 1)})
    assert over.status_code == 413 and f"{limit:,} bytes" in over.json()["message"]
    assert client.post(path, content=b"x", headers={"content-length": "1"}).status_code != 413


@pytest.mark.committed
@pytest.mark.parametrize("path", ["/v1/invoices/bulk", "/v1/inbound/email"])
def test_a_slow_upload_holds_no_lock_while_it_arrives(served, path):
    """The key is checked in a transaction of its own, over before the body is read: a client
    sending slowly does not hold SQLite's write lock, and other writers go on meanwhile."""
    url, key, _ = served
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as slow:
        slow.sendall(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
            f'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"invoices": ['.encode()
        )
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as other:
            r = other.post("/v1/customers/bulk", json={"customers": [{"external_id": "C1", "name": "Acme"}]})
        assert r.status_code == 200, r.text  # not stuck behind the slow client (SQLite's busy timeout is 30 s)
