"""The clients of benchmarks/load.py: an accounting system and the systems reading the service,
twenty at once. Each reads what a person or a CRM reads (customers, one customer, invoices, a
customer's case, tasks, the event feed) and now and then pushes a batch of changed invoices.

Run by load.py (`locust -f ... --headless`); the dataset is benchmarks/ingest.py's, so the ids
below exist. A client waits 0.2 to 1 s between requests, as a program working through results
does; without any wait twenty clients on two cores measure only the queue.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.ingest import CUSTOMERS, generate  # noqa: E402

KEY = os.environ["DUNNING_LOAD_KEY"]
BULK_ROWS = 200  # invoices per pushed batch: an accounting system's change since its last push
_, INVOICES = generate()


class Client(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {KEY}"
        self.rng = random.Random(id(self))
        self.after = 0  # this reader's place in the event feed

    def customer_id(self) -> str:
        return f"C{self.rng.randrange(CUSTOMERS):05d}"

    @task(3)
    def customers(self) -> None:
        self.client.get("/v1/customers?limit=100", name="GET /v1/customers")

    @task(6)
    def customer(self) -> None:
        self.client.get(f"/v1/customers/{self.customer_id()}", name="GET /v1/customers/{id}")

    @task(3)
    def invoices(self) -> None:
        self.client.get(f"/v1/invoices?customer={self.customer_id()}&status=open", name="GET /v1/invoices?customer")

    @task(2)
    def overdue(self) -> None:
        self.client.get("/v1/invoices?status=open&overdue=true&limit=100", name="GET /v1/invoices?overdue")

    @task(4)
    def case(self) -> None:
        # a customer owing nothing overdue has no case: its 404 is the answer, not an error
        with self.client.get(
            f"/v1/customers/{self.customer_id()}/case", name="GET /v1/customers/{id}/case", catch_response=True
        ) as response:
            if response.status_code == 404:
                response.success()

    @task(2)
    def open_tasks(self) -> None:
        self.client.get("/v1/tasks?status=open&limit=100", name="GET /v1/tasks")

    @task(3)
    def event_feed(self) -> None:
        r = self.client.get(f"/v1/events?after={self.after}&limit=100", name="GET /v1/events")
        if r.status_code == 200:
            self.after = r.json()["next_after"]

    @task(1)
    def push(self) -> None:
        rows = []
        for invoice in self.rng.sample(INVOICES, BULK_ROWS):
            total = round(float(invoice["total"]) * 100)
            rows.append({**invoice, "balance": f"{self.rng.randrange(0, total + 1) / 100:.2f}"})
        self.client.post("/v1/invoices/bulk", json={"invoices": rows}, name="POST /v1/invoices/bulk")
