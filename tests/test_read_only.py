"""The API's GET requests only read. On SQLite they take no lock, so they answer while the cycle,
an import or a push holds the one write lock (WAL: a reader sees the last committed state); a
read-only transaction refuses to write, so a read that starts writing is found at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from dunning.app import create_app
from dunning.ledger.models import Customer
from tests.builders import customer
from tests.conftest import make_client, new_key

pytestmark = pytest.mark.committed


def test_the_apis_reads_answer_while_a_writer_holds_the_database(committed_db, clock, settings):
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    with make_client(app, new_key(committed_db, clock, ["admin"])) as client:
        assert client.post("/v1/customers/bulk", json={"customers": [customer("C1")]}).status_code == 200
        with committed_db.session() as writer:  # a long write, as the cycle's: SQLite's write lock is held
            writer.execute(update(Customer).values(name="Renamed, not committed yet"))
            read = client.get("/v1/customers/C1")
            assert read.status_code == 200  # before: queued behind the writer, a 500 after the busy timeout
            assert read.json()["name"] == "Customer C1"  # the committed state
        assert client.get("/v1/customers/C1").json()["name"] == "Renamed, not committed yet"


def test_a_read_only_session_refuses_to_write_and_the_next_one_writes(committed_db, clock):
    if committed_db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never wait for a writer: its read-only sessions are ordinary ones")
    with committed_db.session() as session:
        session.add(
            Customer(external_id="C1", name="First", content_hash="", created_at=clock.now(), updated_at=clock.now())
        )
    with pytest.raises(OperationalError, match="readonly"), committed_db.session(read_only=True) as session:
        session.execute(update(Customer).values(name="Written by a read"))
    with committed_db.session() as session:  # the same pooled connection, writing again
        session.execute(update(Customer).values(name="Second"))
    with committed_db.session(read_only=True) as session:
        assert session.execute(select(Customer.name)).scalar_one() == "Second"
