"""`fees explain` reproduces the laws' worked examples, and `rates` lists and extends the histories."""

from __future__ import annotations

import json

from sqlalchemy import select

from dunning.audit import AuditEvent
from dunning.policies.models import ReferenceRate


def explain(shell, *args: str) -> dict:
    return json.loads(shell.run("fees", "explain", *args, "--json").output)


def test_the_published_worked_examples(shell):
    # UK: £5,000 late since 16 June 2025 (due 15 June): Bank Rate on 31 December 2024 (4.75 %) + 8, fixed for the debt.
    uk = explain(
        shell,
        "--country",
        "GB",
        "--kind",
        "business",
        "--currency",
        "GBP",
        "--as-of",
        "2025-10-14",
        "--invoice",
        "2025-06-15:5000",
    )
    assert (uk["interest"], uk["compensation"]) == ("211.34", "70.00")
    [interest, fixed] = uk["lines"]
    assert (interest["rate"], interest["from"], interest["to"], interest["days"]) == (
        "12.75",
        "2025-06-16",
        "2025-10-14",
        121,
    )
    assert interest["calculation"] == (
        "16 June 2025 to 14 October 2025: £5,000.00 × 12.75% × 121/365 days = £211.34"
        " (Bank Rate 4.75% on 31 December 2024 + 8 points)"
    )
    assert (fixed["kind"], fixed["invoice"], fixed["amount"], fixed["rate"]) == ("compensation", "1", "70.00", None)
    # Late since 1 August 2025: Bank Rate on 30 June 2025 (4.25 %) + 8.
    assert (
        explain(
            shell,
            "--country",
            "GB",
            "--kind",
            "business",
            "--currency",
            "GBP",
            "--as-of",
            "2025-10-14",
            "--invoice",
            "2025-07-31:5000",
        )["interest"]
        == "125.86"
    )
    # France: 13.15 % to 30 June (ECB 3.15 % on 1 January 2025 + 10), 12.15 % from 1 July (2.15 % + 10).
    fr = explain(
        shell,
        "--country",
        "FR",
        "--kind",
        "business",
        "--currency",
        "EUR",
        "--as-of",
        "2025-10-14",
        "--invoice",
        "2025-05-15:10000",
        "--language",
        "fr",
    )
    assert (fr["interest"], fr["compensation"]) == ("518.58", "40.00")
    assert [(line["rate"], line["amount"]) for line in fr["lines"][:2]] == [("13.15", "165.73"), ("12.15", "352.85")]
    assert "taux BCE 2,15\u00a0% au 1er juillet 2025 + 10 points" in fr["lines"][1]["calculation"]
    # Germany, between businesses: Basiszinssatz 2.27 % then 1.27 %, + 9 points, and the 40 € Pauschale.
    de = explain(
        shell,
        "--country",
        "DE",
        "--kind",
        "business",
        "--currency",
        "EUR",
        "--as-of",
        "2025-09-01",
        "--invoice",
        "2025-03-01:10000",
    )
    assert (de["interest"], de["compensation"]) == ("550.87", "40.00")
    assert [line["rate"] for line in de["lines"] if line["kind"] == "interest"] == ["11.27", "10.27"]


def test_hand_computed_part_payments_across_a_half_year_and_a_year_end(shell):
    # €8,000 due 15 November 2024; €3,000 paid 20 December 2024, €2,000 paid 10 February 2025; €3,000 still
    # owed on 31 July 2025. France: 14.25 % in 2024 (ECB 4.25 % on 1 July 2024 + 10), 13.15 % in the first
    # half of 2025, 12.15 % from 1 July 2025.
    out = explain(
        shell,
        "--country",
        "FR",
        "--kind",
        "business",
        "--currency",
        "EUR",
        "--as-of",
        "2025-07-31",
        "--invoice",
        "2024-11-15:3000:F-7",
        "--payment",
        "2024-12-20:3000",
        "--payment",
        "2025-02-10:2000",
    )
    assert [(line["from"], line["to"], line["rate"], line["amount"]) for line in out["lines"]] == [
        ("2024-11-16", "2024-12-20", "14.25", "109.32"),  # 8,000 × 14.25 % × 35/365 = 109.315
        ("2024-12-21", "2024-12-31", "14.25", "21.47"),  # 5,000 × 14.25 % × 11/365 = 21.473
        ("2025-01-01", "2025-02-10", "13.15", "73.86"),  # 5,000 × 13.15 % × 41/365 = 73.856
        ("2025-02-11", "2025-06-30", "13.15", "151.32"),  # 3,000 × 13.15 % × 140/365 = 151.315
        ("2025-07-01", "2025-07-31", "12.15", "30.96"),  # 3,000 × 12.15 % × 31/365 = 30.957
        (None, None, None, "40.00"),
    ]
    assert (out["interest"], out["compensation"], out["total"]) == ("386.93", "40.00", "426.93")
    assert {line["invoice"] for line in out["lines"]} == {"F-7"}


def test_bad_options_are_all_named_and_nothing_is_computed(shell):
    out = shell.run(
        "fees",
        "explain",
        "--country",
        "FR",
        "--currency",
        "EUR",
        "--as-of",
        "2025-07-31",
        "--invoice",
        "2024-11-15:-3",
        "--invoice",
        "someday:10",
        "--payment",
        "2025-08-01:5",
        code=2,
    ).output
    for part in ("--invoice 2024-11-15:-3", "'someday' is not a date", "say which one it paid"):
        assert part in " ".join(out.split())
    assert (
        "taxes"
        not in shell.run(
            "fees",
            "explain",
            "--country",
            "FR",
            "--currency",
            "EUR",
            "--as-of",
            "2025-07-31",
            "--invoice",
            "2025-06-30:10",
            "--kind",
            "taxes",
            code=2,
        ).output
    )


def test_a_missing_rate_is_named_then_added_audited_and_used(shell):
    args = (
        "fees",
        "explain",
        "--country",
        "DE",
        "--currency",
        "EUR",
        "--as-of",
        "2026-09-01",
        "--invoice",
        "2026-03-01:10000",
        "--json",
    )
    refused = " ".join(shell.run(*args, code=2).output.split())
    assert "rates add de_basiszinssatz RATE --from 2026-07-01" in refused
    assert (
        "de_basiszinssatz 1.27 from 2026-07-01: added; 0 tasks closed"
        in shell.run(
            "rates", "add", "de_basiszinssatz", "1.27", "--from", "2026-07-01", "--by", "ops@example.com"
        ).output
    )
    out = json.loads(shell.run(*args).output)
    assert [line["rate"] for line in out["lines"] if line["kind"] == "interest"] == ["10.27", "10.27"]
    listed = shell.run("rates", "list", "de_basiszinssatz").output
    assert "2026-07-01    1.27  added" in listed and "known through 2026-12-31" in listed
    assert "2025-07-01    1.27  shipped" in listed
    with shell.database().session() as session:
        [row] = session.execute(select(ReferenceRate)).scalars()
        assert (row.series, row.percent, row.created_by) == ("de_basiszinssatz", "1.27", "ops@example.com")
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "rate.added")).scalars()
        assert event.subject_id == "de_basiszinssatz:2026-07-01" and event.actor == "ops@example.com"
    # A correction replaces the row and says what it was; nonsense is refused before anything is written.
    assert "replaced 1.27" in shell.run("rates", "add", "de_basiszinssatz", "1.30", "--from", "2026-07-01").output
    for bad in (
        ("ecb_mro", "abc", "2026-07-01"),
        ("ecb_mro", "45", "2026-07-01"),
        ("nope", "1", "2026-07-01"),
        ("de_basiszinssatz", "1.2", "2026-08-01"),
        ("ecb_mro", "2.1234", "2026-07-01"),
        ("ecb_mro", "2", "1900-01-01"),
    ):
        shell.run("rates", "add", bad[0], bad[1], "--from", bad[2], code=2)
    with shell.database().session() as session:
        assert [r.percent for r in session.execute(select(ReferenceRate)).scalars()] == ["1.30"]
