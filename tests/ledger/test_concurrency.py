from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from dunning.app import create_app
from dunning.ledger.models import Customer, Invoice
from tests.builders import customer, invoice
from tests.conftest import new_key
from tests.server import serving

CLIENTS = 4


def push_together(url: str, key: str, path: str, body: dict) -> list[int]:
    barrier = threading.Barrier(CLIENTS)

    def push(_):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            barrier.wait()
            return c.post(path, json=body).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(push, range(CLIENTS)))


def test_clients_pushing_the_same_external_id_at_once_make_one_row(settings, committed_db, clock):
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    key = new_key(committed_db, clock, ["ingest"])
    with serving(app) as url:
        for round_ in range(5):
            cust = customer(f"C{round_}", name=f"n{round_}")
            assert push_together(url, key, "/v1/customers/bulk", {"customers": [cust]}) == [200] * CLIENTS
            body = {"invoices": [invoice(f"I{round_}", f"C{round_}")]}
            assert push_together(url, key, "/v1/invoices/bulk", body) == [200] * CLIENTS
    with committed_db.session() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 5
        assert s.execute(select(func.count()).select_from(Invoice)).scalar() == 5
