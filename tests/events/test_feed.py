"""GET /v1/events: the feed read page by page from a cursor, filtered by type."""

from __future__ import annotations

from dunning.events.catalogue import TYPES
from dunning.events.publish import publish
from tests.conftest import make_client, new_key


def publish_notes(db, clock, n: int, event_type: str = "task.note_added") -> None:
    with db.session() as session:
        for i in range(n):
            publish(session, clock, event_type, text=f"{event_type} {i}")


def read_all(client, **params) -> tuple[list[dict], list[dict]]:
    """Every event, page by page from the start; and the pages."""
    after, items, pages = 0, [], []
    while True:
        page = client.get("/v1/events", params={"after": after, **params}).json()
        pages.append(page)
        items += page["items"]
        after = page["next_after"]
        if not page["has_more"]:
            return items, pages


def test_the_feed_reads_every_event_once_in_order_page_by_page(client, db, clock):
    publish_notes(db, clock, 23)
    items, pages = read_all(client, limit=10)
    assert [len(p["items"]) for p in pages] == [10, 10, 3]
    assert [e["data"]["text"] for e in items] == [f"task.note_added {i}" for i in range(23)]
    ids = [e["id"] for e in items]
    assert ids == sorted(set(ids))
    assert items[0]["timestamp"] == "2026-03-02T09:00:00Z" and items[0]["type"] == "task.note_added"

    # A reader at the end stays where it is, and picks up what comes next from there.
    last = client.get("/v1/events", params={"after": pages[-1]["next_after"]}).json()
    assert last == {"items": [], "next_after": ids[-1], "has_more": False}
    publish_notes(db, clock, 2, "task.done")
    later = client.get("/v1/events", params={"after": ids[-1]}).json()
    assert [e["type"] for e in later["items"]] == ["task.done", "task.done"]


def test_the_feed_filters_by_type(client, db, clock):
    publish_notes(db, clock, 3, "task.done")
    publish_notes(db, clock, 4, "task.note_added")
    publish_notes(db, clock, 2, "task.assigned")
    items, _ = read_all(client, type=["task.done", "task.assigned"], limit=2)
    assert [e["type"] for e in items] == ["task.done"] * 3 + ["task.assigned"] * 2
    r = client.get("/v1/events", params={"type": "case.exploded"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "type.0"


def test_the_feed_refuses_what_it_cannot_read(client):
    for params in ({"after": -1}, {"after": 2**63}, {"limit": 0}, {"limit": 1001}, {"after": "x"}):
        assert client.get("/v1/events", params=params).status_code == 422, params


def test_one_event_with_its_deliveries_and_the_catalogue(client, db, clock):
    publish_notes(db, clock, 1)
    [event] = client.get("/v1/events").json()["items"]
    detail = client.get(f"/v1/events/{event['id']}").json()
    assert detail == {**event, "deliveries": []}
    assert client.get("/v1/events/999999").status_code == 404
    assert client.get("/v1/event-types").json() == TYPES


def test_reading_events_needs_the_read_scope(app, db, clock):
    assert make_client(app, new_key(db, clock, ["read"])).get("/v1/events").status_code == 200
    assert make_client(app, new_key(db, clock, ["ingest"])).get("/v1/events").status_code == 403
