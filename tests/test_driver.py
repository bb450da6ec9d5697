"""The bulk writes of dunning/driver.py give the same rows on both databases, whichever way they
travel (sqlite3's executemany, PostgreSQL's COPY): values of every kind the service writes, rows
that meet an existing one left out, updates by id."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Table, select

from dunning.driver import insert_rows, update_rows, upsert_rows
from dunning.ledger.models import Customer

CUSTOMER: Table = Customer.__table__  # type: ignore[attr-defined]


def row(external_id: str, clock, **over) -> dict:
    return {
        "external_id": external_id,
        "name": f"Name of {external_id}",
        "email": None,
        "tags": ["a", "b"],
        "content_hash": "",
        "hold_until": date(2026, 4, 1),
        "refused_channels": [],
        "created_at": clock.now(),
        "updated_at": clock.now(),
        **over,
    }


def read(session) -> dict[str, Customer]:
    return {c.external_id: c for c in session.execute(select(Customer)).scalars()}


def test_inserted_rows_read_back_as_written(db, clock):
    with db.session() as session:
        assert insert_rows(session, CUSTOMER, [row("C1", clock), row("C2", clock, email="x@example.com")]) == 2
        found = read(session)
    assert found["C1"].tags == ["a", "b"] and found["C1"].email is None and found["C2"].email == "x@example.com"
    assert found["C1"].hold_until == date(2026, 4, 1) and found["C1"].created_at == clock.now()
    assert found["C1"].id < found["C2"].id  # in the order given
    # left out, so the columns' own defaults: a default of the model's and one of the database's
    assert (found["C1"].language, found["C1"].kind, found["C1"].link_version) == ("en", "business", 1)


def test_rows_that_meet_existing_ones_are_left_out_and_the_rest_written(db, clock):
    with db.session() as session:
        insert_rows(session, CUSTOMER, [row("C1", clock)])
        later = row("C1", clock, name="Not written")
        written = insert_rows(session, CUSTOMER, [later, row("C2", clock)], skip_existing=["external_id"])
        found = read(session)
    assert written == 1
    assert set(found) == {"C1", "C2"} and found["C1"].name == "Name of C1"


def test_updates_set_each_rows_columns_by_id(db, clock):
    with db.session() as session:
        insert_rows(session, CUSTOMER, [row("C1", clock), row("C2", clock), row("C3", clock)])
        ids = {c.external_id: c.id for c in read(session).values()}
        moved = clock.now() + timedelta(days=1)
        changes = [
            {"_id": ids["C1"], "name": "First", "hold_until": None, "updated_at": moved},
            {"_id": ids["C3"], "name": "Third", "hold_until": date(2026, 5, 1), "updated_at": moved},
        ]
        assert update_rows(session, CUSTOMER, changes) == 2
        session.expire_all()
        found = read(session)
    assert (found["C1"].name, found["C1"].hold_until, found["C1"].updated_at) == ("First", None, moved)
    assert (found["C3"].name, found["C3"].hold_until) == ("Third", date(2026, 5, 1))
    assert (found["C2"].name, found["C2"].updated_at) == ("Name of C2", clock.now())  # untouched


def test_an_upsert_updates_the_rows_that_exist_with_what_it_is_told_and_inserts_the_others(db, clock):
    later = clock.now() + timedelta(days=1)
    with db.session() as session:
        insert_rows(session, CUSTOMER, [row("C1", clock)])
        offered = [row("C1", clock, name="Renamed", created_at=later), row("C2", clock, created_at=later)]
        # created_at stays as first written, the name comes from the row offered
        upsert_rows(session, CUSTOMER, offered, ["external_id"], lambda stmt: {"name": stmt.excluded.name})
        session.expire_all()
        found = read(session)
    assert (found["C1"].name, found["C1"].created_at) == ("Renamed", clock.now())
    assert (found["C2"].name, found["C2"].created_at) == ("Name of C2", later)


def test_text_that_copy_must_escape_reads_back_unchanged(db, clock):
    # COPY's text format gives tab, newline, backslash and \N meanings of their own
    awkward = "Müller\tGmbH\nBackslash \\ and \\N, 株式会社, ' \" ;--"
    with db.session() as session:
        insert_rows(session, CUSTOMER, [row("C1", clock, name=awkward, tags=["a\tb", "\\N"])])
        found = read(session)
    assert (found["C1"].name, found["C1"].tags) == (awkward, ["a\tb", "\\N"])
