"""Server-side request forgery: an endpoint URL may not lead inside, neither when it is set nor
when a delivery goes (its name is resolved again then), and the request goes to the address that
was checked."""

from __future__ import annotations

import pytest

from dunning.webhooks.egress import Refused, forbidden, vet
from tests.builders import customer, payment
from tests.fakes import LoopbackHTTPServer, Reply
from tests.fakes.webhooks import Receiver
from tests.outbox.support import tasks
from tests.webhooks.support import FakeDNS, add_endpoint, deliver, deliveries

PUBLIC = "93.184.215.14"  # a public address (nothing is sent to it: these tests stop before)


@pytest.fixture
def production(settings):
    return settings.model_copy(update={"environment": "production"})


@pytest.fixture
def dns():
    return FakeDNS(
        {
            "hooks.example.com": [PUBLIC],
            "crm.internal": ["10.20.30.40"],
            "mixed.example.com": [PUBLIC, "192.168.1.10"],
            "metadata.example.com": ["169.254.169.254"],
            "receiver.test": ["127.0.0.1"],
            "gone.example.com": [],
        }
    )


@pytest.fixture
def production_client(app, client, production, dns):
    app.state.settings, app.state.resolve = production, dns
    return client


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "reserved"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a public"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:0a00:0001::", "private"),
    ],
)
def test_addresses_inside_are_refused(address, why):
    assert why in forbidden(address, loopback_ok=False)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "2002:0808:0808::"])
def test_public_addresses_are_allowed(address):
    assert forbidden(address, loopback_ok=False) is None


def test_development_allows_loopback_only(settings, dns):
    assert vet("http://receiver.test:8080/hook", settings, dns).address == "127.0.0.1"
    assert vet("http://localhost/hook", settings, dns).address in ("127.0.0.1", "::1")  # the real resolver
    with pytest.raises(Refused, match="private"):
        vet("http://crm.internal/hook", settings, dns)
    with pytest.raises(Refused, match="metadata"):
        vet("http://169.254.169.254/latest/meta-data/", settings, dns)


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://hooks.example.com/hook", "https://"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.5/hook", "private"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://localhost/hook", "loopback"),  # resolved by the system: a name, checked after resolution
        ("https://crm.internal/hook", "resolves to 10.20.30.40, a private address"),
        ("https://mixed.example.com/hook", "192.168.1.10"),  # one bad address is enough
        ("https://metadata.example.com/", "metadata"),
        ("https://gone.example.com/", "does not resolve"),
        ("https://user:secret@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/#part", "fragment"),
        ("ftp://hooks.example.com/", "https://"),
        ("https:///hook", "no host"),
    ],
)
def test_production_refuses_endpoints_that_lead_inside(production_client, url, why):
    r = production_client.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "url" and why in r.json()["message"], r.json()
    assert production_client.get("/v1/webhook-endpoints").json() == []


def test_production_takes_a_public_https_endpoint_and_a_named_internal_host(app, production_client, production, dns):
    assert (
        add_endpoint(production_client, "https://hooks.example.com/dunning")["url"]
        == "https://hooks.example.com/dunning"
    )
    app.state.settings = production.model_copy(update={"webhook_allowed_hosts": frozenset({"crm.internal"})})
    add_endpoint(production_client, "https://crm.internal/hook")
    r = production_client.post("/v1/webhook-endpoints", json={"url": "http://crm.internal/hook", "events": ["*"]})
    assert r.status_code == 422  # a named host is still https only in production


def test_every_delivery_checks_the_name_again(app, client, db, clock, production, dns):
    """DNS rebinding: the name was public when the endpoint was set, it leads inside when a
    delivery goes; nothing is sent, the delivery waits and says why."""
    app.state.settings, app.state.resolve = production, dns
    add_endpoint(client, "https://hooks.example.com/dunning", ["payment.received"])
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/payments/bulk", json={"payments": [payment("P1")]})
    dns.records["hooks.example.com"] = ["127.0.0.1"]
    asked = dns.asked["hooks.example.com"]
    counts = deliver(db, clock, production, resolve=dns)
    assert counts["failed"] == 1 and dns.asked["hooks.example.com"] == asked + 1
    [row] = deliveries(db)
    assert row.status == "pending" and row.last_status is None
    assert row.last_error == "refused: hooks.example.com resolves to 127.0.0.1, a loopback address"


def test_the_request_goes_to_the_address_checked_under_its_own_name(app, client, db, clock, settings, dns):
    """receiver.test exists only in our DNS: the system's resolver, asked again, would fail."""
    app.state.resolve = dns
    with Receiver(tolerance=False) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        endpoint = add_endpoint(client, f"http://receiver.test:{port}/hook", ["payment.received"])
        receiver.secret = endpoint["secret"]
        client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
        client.post("/v1/payments/bulk", json={"payments": [payment("P1")]})
        assert deliver(db, clock, settings, resolve=dns)["delivered"] == 1
    [request] = receiver.accepted
    assert request.headers["Host"] == f"receiver.test:{port}"


def test_redirects_are_not_followed(client, db, clock, settings):
    with (
        LoopbackHTTPServer(lambda r: Reply(200)) as inside,
        LoopbackHTTPServer(lambda r: Reply(307, headers={"Location": inside.url + "/admin"})) as outside,
    ):
        add_endpoint(client, outside.url + "/hook", ["payment.received"])
        client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
        client.post("/v1/payments/bulk", json={"payments": [payment("P1")]})
        assert deliver(db, clock, settings)["failed"] == 1
    assert inside.requests == [] and len(outside.requests) == 1
    assert deliveries(db)[0].last_error.startswith("answered 307")
    assert tasks(db, kind="webhook") == []
