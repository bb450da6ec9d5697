"""A series without its rate for the current half-year is announced at start-up and on the desk."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from dunning.app import create_app
from tests.web.support import desk

SECOND_HALF_2026 = datetime(2026, 7, 6, 9, tzinfo=UTC)


def test_the_desk_says_which_rate_to_add_for_this_half_year(app, db, clock):
    client, _ = desk(app, db, clock, "agent")
    assert "missing-rate-" not in client.get("/desk").text  # 2 March 2026: every series covers it
    clock.set(SECOND_HALF_2026)
    client, _ = desk(app, db, clock, "agent", "later@example.com")  # months later: a new session
    page = client.get("/desk").text
    for series, on in (("boe_bank_rate", "2026-06-30"), ("ecb_mro", "2026-07-01"), ("de_basiszinssatz", "2026-07-01")):
        assert f'id="missing-rate-{series}"' in page and f"rates add {series} RATE --from {on}" in page


def test_start_up_logs_each_missing_rate(db, clock, settings, caplog):
    clock.set(SECOND_HALF_2026)
    with caplog.at_level(logging.WARNING, logger="dunning.policies.rate_store"):
        with TestClient(create_app(settings, database=db, clock=clock, embedded_worker=False)):
            pass
    logged = [r.getMessage() for r in caplog.records if "reference rate missing" in r.getMessage()]
    assert len(logged) == 3 and any("ecb_mro RATE --from 2026-07-01" in m for m in logged)
