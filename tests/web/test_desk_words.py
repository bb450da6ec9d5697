"""The desk in the words of the people who use it (issue 14): the next step by its name on the day
it really goes out, the same day the policy preview shows; amounts compared within a currency;
long lists a page at a time."""

from __future__ import annotations

import re
from datetime import date

import pytest

from dunning.web.desk import customers as customer_pages
from dunning.web.desk import outbox as outbox_pages
from tests.builders import customer, invoice
from tests.outbox.support import cycle, dispatch, messages, seed, use_policy
from tests.web.support import desk

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

# The second reminder falls due on a Sunday; business days only: it goes on the Monday.
SUNDAY = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, name: First reminder, after_days: 1, kind: reminder, channels: [email]}
      - {key: r2, name: Second reminder, after_days: 7, kind: reminder, channels: [email]}
contact: {business_days_only: true, min_days_between_contacts: 1}
"""


def text_of(html: str, attribute: str) -> str:
    found = re.search(rf"<[^>]*\s{re.escape(attribute)}(?=[\s>])[^>]*>([^<]*)<", html)
    assert found, f"no element with {attribute}"
    return found.group(1)


@pytest.fixture
def reminded(db, clock, settings):
    """A Parisian customer reminded on Monday 2 March 2026 of an invoice due Sunday the 1st."""
    use_policy(db, clock, SUNDAY)
    seed(db, clock, [customer("C1", name="Dupont SARL")], [invoice("I1", due=date(2026, 3, 1), total="2048.71")])
    cycle(db, clock, settings)
    assert dispatch(db, clock, settings)["sent"] == 1


def test_the_customer_page_names_the_next_step_and_the_day_it_goes_out(app, client, db, clock, reminded):
    agent, token = desk(app, db, clock, "manager")
    page = agent.get("/desk/customers/C1").text
    assert text_of(page, "data-next-step") == "Second reminder"
    assert text_of(page, "data-next-day") == "Mon 9 Mar 2026"  # due Sunday the 8th
    assert "due on Sun 8 Mar 2026; the contact rules send it on Mon 9 Mar 2026" in page
    assert "[not_due]" not in page and "policy 'default'" not in page and ">r2<" not in page  # no engine text
    assert "First reminder" in page  # the current step, by name too

    # the policy preview says the same day
    preview = agent.post(
        "/desk/policies/default", data={"document": SUNDAY, "action": "preview", "csrf_token": token}
    ).text
    assert 'data-send-on="2026-03-09"' in preview and "Mon 9 Mar 2026" in preview and "Second reminder" in preview
    assert "€2,048.71" in preview and "2048.71 EUR" not in preview

    # the API gives both days and keeps the engine's reason for those who want it
    [case] = client.get("/v1/customers/C1/case").json()
    assert (case["next"]["step_name"], case["next"]["due_on"], case["next"]["send_on"]) == (
        "Second reminder",
        "2026-03-08",
        "2026-03-09",
    )
    assert case["next"]["why"].startswith("[not_due]") and case["current_step_name"] == "First reminder"


def test_a_step_waiting_for_approval_is_what_comes_next(app, db, clock, settings):
    use_policy(
        db,
        clock,
        SUNDAY.replace(
            "kind: reminder, channels: [email]}\n      - {key: r2",
            "kind: reminder, channels: [email], requires_approval: true}\n      - {key: r2",
        ),
    )
    seed(db, clock, [customer("C1")], [invoice("I1", due=date(2026, 3, 1))])
    cycle(db, clock, settings)
    agent, _ = desk(app, db, clock, "agent")
    page = agent.get("/desk/customers/C1").text
    assert text_of(page, "data-next-step") == "First reminder" and "waits for a manager&#39;s approval" in page
    assert text_of(page, "data-next-day") == "Mon 2 Mar 2026"


def test_the_customer_list_compares_amounts_within_a_currency_and_pages(app, db, clock, settings, monkeypatch):
    # by number alone: 900 (USD) > 500 (GBP) > 400 (EUR) > 300 (USD) > 100 (EUR)
    owed = {
        "E1": ("EUR", "400.00"),
        "E2": ("EUR", "100.00"),
        "G1": ("GBP", "500.00"),
        "U1": ("USD", "300.00"),
        "U2": ("USD", "900.00"),
    }
    seed(
        db,
        clock,
        [customer(c, name=f"Customer {c}") for c in owed],
        [invoice(f"I-{c}", c, currency=cur, total=total) for c, (cur, total) in owed.items()],
    )
    cycle(db, clock, settings)
    agent, _ = desk(app, db, clock, "agent")
    page = agent.get("/desk/customers").text
    assert re.findall(r'data-currency="(\w*)"', page) == ["EUR", "GBP", "USD"]
    assert re.findall(r">Customer (\w+)<", page) == ["E1", "E2", "G1", "U2", "U1"]
    assert "$900.00" in page and "€100.00" in page

    monkeypatch.setattr(customer_pages, "PAGE", 2)
    first = agent.get("/desk/customers").text
    assert re.findall(r">Customer (\w+)<", first) == ["E1", "E2"] and 'href="/desk/customers?page=2"' in first
    third = agent.get("/desk/customers?page=3").text
    assert re.findall(r">Customer (\w+)<", third) == ["U1"] and 'rel="next"' not in third
    assert 'href="/desk/customers?page=2" rel="prev"' in third
    searched = agent.get("/desk/customers?q=customer").text
    assert 'href="/desk/customers?q=customer&amp;page=2"' in searched  # the search stays in the links
    assert agent.get("/desk/customers?page=0").status_code == 422
    assert agent.get("/desk/customers?page=99999999999999999999").status_code == 422


def test_the_outbox_pages(app, db, clock, settings, monkeypatch):
    seed(db, clock, [customer(f"C{i}") for i in range(3)], [invoice(f"I{i}", f"C{i}") for i in range(3)])
    cycle(db, clock, settings)
    agent, _ = desk(app, db, clock, "agent")
    listed = re.compile(r'data-message="(\d+)"')
    everything = listed.findall(agent.get("/desk/outbox").text)
    assert len(everything) >= 3
    monkeypatch.setattr(outbox_pages, "PAGE", 2)
    pages, page = [], 1
    while True:
        html = agent.get(f"/desk/outbox?status=queued&page={page}").text
        pages.append(listed.findall(html))
        if 'rel="next"' not in html:
            break
        assert f'href="/desk/outbox?status=queued&amp;page={page + 1}" rel="next"' in html
        page += 1
    assert all(len(p) <= 2 for p in pages) and [m for p in pages for m in p] == everything


def test_a_queued_text_message_is_previewed_as_it_will_go_out(app, db, clock, settings):
    use_policy(db, clock, SUNDAY.replace("channels: [email]}\n      - {key: r2", "channels: [sms]}\n      - {key: r2"))
    seed(db, clock, [customer("C1", phone="+33612345678", language="fr")], [invoice("I1", due=date(2026, 3, 1))])
    cycle(db, clock, settings)
    [sms] = messages(db, channel="sms")
    assert sms.status == "queued" and sms.recipient is None  # the recipient is stored when it is sent
    agent, _ = desk(app, db, clock, "agent")
    page = agent.get(f"/desk/outbox/{sms.id}").text
    assert '<dd class="lines" id="recipient">+33612345678</dd>' in page
    body = text_of(page, 'id="sms-body"')
    assert body.rstrip().endswith("Répondez STOP pour vous désabonner")  # the first text says how to stop them
    assert "/portal/" in body and text_of(page, 'id="sms-segments"').endswith("segments")
    # ... and the same words go out
    dispatch(db, clock, settings)
    [sent] = messages(db, channel="sms")
    assert sent.body_text == body and sent.recipient == "+33612345678"


def test_the_favicon_is_served(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/vnd.microsoft.icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an icon file, as browsers ask for at the root
