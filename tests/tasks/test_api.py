"""/v1/tasks: a helpdesk lists, opens, assigns, notes and closes the team's tasks, with an event
for each change; the desk does the same through the same service."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import customer
from tests.conftest import make_client, new_key
from tests.outbox.support import tasks
from tests.web.support import desk, make_user


def events(client, *types: str) -> list[dict]:
    return client.get("/v1/events", params={"type": list(types), "limit": 1000}).json()["items"]


def test_a_task_from_opening_to_done_with_an_event_for_each_change(client, db, clock):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    make_user(db, clock, "agent", "ann@example.com")
    due = (clock.now() + timedelta(days=2)).isoformat()
    r = client.post(
        "/v1/tasks",
        json={
            "title": "Call back about the credit note",
            "customer": "C1",
            "due_at": due,
            "detail": "She asked for the\naccounts department.",
        },
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["kind"] == "manual" and task["status"] == "open" and task["customer"] == "C1"
    assert task["due_at"] == due.replace("+00:00", "Z") and task["assignee"] is None

    r = client.post(f"/v1/tasks/{task['id']}/assign", json={"assignee": "ann@example.com"})
    assert r.status_code == 200 and r.json()["assignee"] == "ann@example.com"
    r = client.post(f"/v1/tasks/{task['id']}/notes", json={"text": "left a voicemail"})
    assert [n["text"] for n in r.json()["notes"]] == ["left a voicemail"]
    r = client.post(f"/v1/tasks/{task['id']}/complete", json={"note": "she called back"})
    assert r.json()["status"] == "done" and r.json()["done_by"] == "api_key:admin"
    assert [n["text"] for n in r.json()["notes"]] == ["left a voicemail", "she called back"]
    assert client.post(f"/v1/tasks/{task['id']}/complete", json={}).status_code == 409
    assert client.get(f"/v1/tasks/{task['id']}").json() == r.json()

    happened = events(client, "task.created", "task.assigned", "task.note_added", "task.done")
    assert [e["type"] for e in happened] == [
        "task.created",
        "task.assigned",
        "task.note_added",
        "task.note_added",
        "task.done",
    ]
    assert {e["data"]["task_id"] for e in happened} == {task["id"]}
    assert all(e["data"]["customer"] == "C1" for e in happened)
    assert happened[1]["data"]["assignee"] == "ann@example.com" and happened[1]["data"]["by"] == "api_key:admin"
    assert happened[0]["data"]["due_at"] == due.replace("+00:00", "Z")


def test_tasks_go_to_desk_users_only(client, db, clock):
    task = client.post("/v1/tasks", json={"title": "Check the address"}).json()
    r = client.post(f"/v1/tasks/{task['id']}/assign", json={"assignee": "stranger@example.com"})
    assert r.status_code == 422 and "not an active desk user" in r.json()["message"]
    assert client.post("/v1/tasks", json={"title": "x", "assignee": "stranger@example.com"}).status_code == 422
    r = client.post(f"/v1/tasks/{task['id']}/assign", json={"assignee": None})
    assert r.status_code == 200 and r.json()["assignee"] is None
    assert client.post("/v1/tasks", json={"title": "x", "customer": "NOPE"}).status_code == 422
    assert client.post("/v1/tasks", json={"title": "x", "kind": "in_doubt"}).status_code == 422
    assert client.post("/v1/tasks", json={"title": ""}).status_code == 422
    assert client.post("/v1/tasks/999999/notes", json={"text": "x"}).status_code == 404
    assert client.post(f"/v1/tasks/{task['id']}/notes", json={"text": "   "}).status_code == 422


def test_the_list_filters_and_pages_with_a_cursor(client, db, clock):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1"), customer("C2")]})
    make_user(db, clock, "agent", "ann@example.com")
    now = clock.now()
    for i in range(7):
        client.post(
            "/v1/tasks",
            json={
                "title": f"T{i}",
                "customer": "C1" if i % 2 else "C2",
                "kind": "call" if i < 3 else "manual",
                "due_at": (now + timedelta(days=i)).isoformat(),
                "assignee": "ann@example.com" if i in (2, 5) else None,
            },
        )
    ids = [t["id"] for t in client.get("/v1/tasks").json()["items"]]
    client.post(f"/v1/tasks/{ids[6]}/complete", json={})

    def titles(**params) -> list[str]:
        out, cursor = [], None
        while True:
            page = client.get("/v1/tasks", params={**params, **({"cursor": cursor} if cursor else {})}).json()
            out += [t["title"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    assert titles(limit=3) == [f"T{i}" for i in range(7)]
    assert titles(status="open", limit=2) == [f"T{i}" for i in range(6)]
    assert titles(status="done") == ["T6"]
    assert titles(kind="call") == ["T0", "T1", "T2"]
    assert titles(assignee="ann@example.com") == ["T2", "T5"]
    assert titles(assignee="none", status="open") == ["T0", "T1", "T3", "T4"]
    assert titles(customer="C1") == ["T1", "T3", "T5"]
    assert titles(due_before=(now + timedelta(days=2)).isoformat()) == ["T0", "T1"]
    assert titles(due_after=(now + timedelta(days=5)).isoformat(), due_before="2026-03-08T09:00:00") == ["T5"]
    assert client.get("/v1/tasks", params={"cursor": "not-a-cursor"}).status_code == 422
    assert client.get("/v1/tasks", params={"due_before": "9999-12-31T00:00:00Z"}).status_code == 422


def test_reading_needs_read_and_changing_needs_manage(app, client, db, clock):
    task = client.post("/v1/tasks", json={"title": "x"}).json()
    reader = make_client(app, new_key(db, clock, ["read"]))
    assert reader.get(f"/v1/tasks/{task['id']}").status_code == 200
    assert reader.post(f"/v1/tasks/{task['id']}/complete", json={}).status_code == 403
    manager = make_client(app, new_key(db, clock, ["manage"]))
    assert manager.post(f"/v1/tasks/{task['id']}/complete", json={}).status_code == 200


def test_the_desk_works_tasks_through_the_same_service(app, client, db, clock):
    task = client.post("/v1/tasks", json={"title": "Ring the buyer"}).json()
    browser, token = desk(app, db, clock, "agent", "bob@example.com")
    browser.post(f"/desk/tasks/{task['id']}/assign", data={"assignee": "bob@example.com", "csrf_token": token})
    browser.post(f"/desk/tasks/{task['id']}/note", data={"text": "no answer", "csrf_token": token})
    browser.post(f"/desk/tasks/{task['id']}/done", data={"csrf_token": token})
    seen = client.get(f"/v1/tasks/{task['id']}").json()
    assert (
        seen["status"] == "done" and seen["assignee"] == "bob@example.com" and seen["done_by"] == "user:bob@example.com"
    )
    happened = events(client, "task.assigned", "task.note_added", "task.done")
    assert [(e["type"], e["data"]["by"]) for e in happened] == [
        ("task.assigned", "user:bob@example.com"),
        ("task.note_added", "user:bob@example.com"),
        ("task.done", "user:bob@example.com"),
    ]
    assert [t.status for t in tasks(db)] == ["done"]
