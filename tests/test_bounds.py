"""The bounds every parser applies (dunning/bounds.py, money.to_minor), and generated extremes fed
into each parser: every one is refused with a ValueError or a 4xx, in bounded time."""

from __future__ import annotations

import csv
import json
import string
from datetime import UTC, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from dunning.bounds import (
    EARLIEST,
    LATEST,
    MAX_JSON_DEPTH,
    WINDOW,
    Day,
    Moment,
    check_line,
    check_text,
    explain,
    load_json,
)
from dunning.errors import InvalidInput, TooLarge
from dunning.ledger.batch import Batch
from dunning.ledger.csv_import import import_file
from dunning.ledger.schemas import InvoiceIn
from dunning.money import MAX_AMOUNT_LENGTH, MAX_MINOR, to_minor
from dunning.policies.document import PolicyError, parse_policy

# Bounded runs: extremes are cheap to refuse, so a second per example is already a stall.
BOUNDED = settings(
    max_examples=60,
    deadline=timedelta(seconds=1),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DAYS = TypeAdapter(Day)
MOMENTS = TypeAdapter(Moment)


# ---- the bounds themselves ----------------------------------------------------------------------


def test_json_nesting_is_bounded_while_parsing():
    # pins pydantic-core's limit, which bounds.MAX_JSON_DEPTH documents
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(json.JSONDecodeError, match="recursion limit exceeded") as caught:
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert (caught.value.lineno, caught.value.colno) == (1, MAX_JSON_DEPTH + 1)


def test_json_numbers_are_exact_and_errors_point_at_their_line():
    assert load_json(b'{"a": 10.000000000000000001, "b": 7}') == {"a": "10.000000000000000001", "b": 7}
    with pytest.raises(json.JSONDecodeError) as caught:
        load_json('{\n  "a": 1,\n  "b": NaN\n}')
    assert (caught.value.lineno, caught.value.colno) == (3, 8)
    with pytest.raises(json.JSONDecodeError):
        load_json('["\\ud800"]')  # a lone surrogate cannot be stored anywhere


@pytest.mark.parametrize(
    "value, ok_line, ok_text",
    [
        ("Dupont SARL", True, True),
        ("Société Générale – ™ 👍", True, True),
        ("a\u00a0b", True, True),
        ("a\nb", False, True),
        ("a\r\nb", False, True),
        ("a\tb", False, True),
        ("a\u2028b", False, True),
        ("a\x00b", False, False),
        ("a\x1bb", False, False),
        ("a\x7fb", False, False),
        ("a\x85b", False, False),
        ("a\ud800b", False, False),
    ],
)
def test_one_line_and_free_text(value, ok_line, ok_text):
    for check, ok in ((check_line, ok_line), (check_text, ok_text)):
        if ok:
            assert check(value) == value
        else:
            with pytest.raises(ValueError):
                check(value)


def test_a_moment_is_judged_on_its_own_day_before_any_conversion():
    with pytest.raises(ValidationError, match="9999-12-31 is out of range"):
        MOMENTS.validate_python("9999-12-31T23:59:59-12:00")
    assert MOMENTS.validate_python("2200-12-31T23:59:59-12:00").astimezone(UTC).year == 2201


# ---- generated extremes, parser by parser ---------------------------------------------------------


def beyond_cents(d: Decimal) -> bool:
    """Not finite, too large for EUR, or with a non-zero digit past the cents."""
    if not d.is_finite() or abs(d) >= 10**13:
        return True
    _, numerals, exp = d.as_tuple()
    significant = "".join(map(str, numerals)).rstrip("0")
    return bool(significant) and exp + len(numerals) - len(significant) < -2


digits = st.text(alphabet=string.digits, min_size=1, max_size=30)
exotic_digits = st.text(alphabet="０１２３４５６７８９٠١٢٣٤٥٦٧٨٩²³¹½", min_size=1, max_size=5)
bad_amounts = st.one_of(
    st.builds(lambda m, e: f"{m}e{e}", digits, st.integers(-(10**6), 10**6)),  # exponents
    st.builds(lambda m, e: f"{m}E+{e}", digits, st.integers(0, 10**6)),
    st.builds(lambda d: "+" + d, digits),  # a sign of its own
    st.builds(lambda a, b: f"{a}_{b}", digits, digits),  # separators
    st.builds(lambda a, b: f"{a},{b}", digits, digits),
    st.builds(lambda a, b: f"{a} {b}", digits, digits),
    exotic_digits,  # full-width and other non-ASCII digits
    st.builds(lambda d, n: "0." + "0" * n + d.lstrip("0").rjust(1, "1"), digits, st.integers(2, 60)),  # tiny
    st.builds(lambda n: "9" * n, st.integers(16, 10_000)),  # huge
    st.sampled_from(["NaN", "inf", "-Infinity", "", ".", "-", "1.", ".5", "--1", "0x1A", "1e", "١٠"]),
    st.integers(MAX_MINOR, 10**4000),
    st.floats(min_value=1e16) | st.sampled_from([float("nan"), float("inf")]),
    st.decimals(allow_nan=True, allow_infinity=True).filter(lambda d: beyond_cents(d)),
)


@BOUNDED
@given(bad_amounts)
def test_generated_amounts_outside_the_grammar_or_bounds_are_refused(amount):
    with pytest.raises(ValueError):
        to_minor(amount, "EUR")


@BOUNDED
@given(st.integers(-(MAX_MINOR - 1), MAX_MINOR - 1), st.sampled_from(["EUR", "JPY", "BHD"]))
def test_amounts_inside_the_bounds_are_exact(minor, currency):
    places = {"EUR": 2, "JPY": 0, "BHD": 3}[currency]
    text = str(Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))
    assert len(text) <= MAX_AMOUNT_LENGTH
    assert to_minor(text, currency) == minor
    assert to_minor(Decimal(text), currency) == minor


@BOUNDED
@given(st.dates())
def test_generated_dates(day):
    if EARLIEST <= day <= LATEST:
        assert DAYS.validate_python(day.isoformat()) == day
        day + timedelta(days=3650 * 5)  # what the engine may add stays a date
    else:
        with pytest.raises(ValidationError) as caught:
            DAYS.validate_python(day.isoformat())
        assert explain(caught.value.errors()[0]) == f"{day.isoformat()} is out of range: {WINDOW}"


@BOUNDED
@given(st.datetimes(timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))))
def test_generated_moments(moment):
    if EARLIEST <= moment.date() <= LATEST:
        assert MOMENTS.validate_python(moment.isoformat()).astimezone(UTC) == moment
    else:
        with pytest.raises(ValidationError, match="out of range"):
            MOMENTS.validate_python(moment.isoformat())


controls = st.characters(categories=["Cc", "Cs", "Zl", "Zp"], exclude_characters="\t\n\r")


printable = st.text(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=50)


@BOUNDED
@given(printable, controls, printable)
def test_generated_text_with_control_characters(before, control, after):
    # free text keeps line and paragraph separators as the line breaks they are
    for check in (check_line,) if control in "\u2028\u2029" else (check_line, check_text):
        with pytest.raises(ValueError):
            check(before + control + after)
    with pytest.raises(ValueError, match="one line"):
        check_line(before + "\n" + after)


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)
extreme_bodies = st.one_of(
    st.integers(MAX_JSON_DEPTH + 1, 200_000).map(lambda d: ('{"invoices": ' + nested(d) + "}").encode()),
    st.integers(MAX_JSON_DEPTH + 1, 200_000).map(lambda d: nested(d, '{"a":', "}").replace("}", "", 1).encode()),
    st.builds(
        lambda amount: json.dumps(
            {
                "invoices": [
                    {
                        "external_id": "I",
                        "customer_external_id": "C",
                        "number": "N",
                        "currency": "EUR",
                        "total": amount,
                        "issued_on": "2026-01-01",
                        "due_on": "2026-02-01",
                    }
                ]
            }
        ).encode(),
        bad_amounts.map(str),
    ),
    st.builds(
        lambda day: json.dumps(
            {
                "invoices": [
                    {
                        "external_id": "I",
                        "customer_external_id": "C",
                        "number": "N",
                        "currency": "EUR",
                        "total": "1",
                        "issued_on": day.isoformat(),
                        "due_on": day.isoformat(),
                    }
                ]
            }
        ).encode(),
        st.dates().filter(lambda d: not EARLIEST <= d <= LATEST),
    ),
    st.builds(
        lambda name: json.dumps(
            {
                "invoices": [
                    {
                        "external_id": name,
                        "customer_external_id": "C",
                        "number": "N",
                        "currency": "EUR",
                        "total": "1",
                        "issued_on": "2026-01-01",
                        "due_on": "2026-02-01",
                    }
                ]
            }
        ).encode(),
        st.builds(lambda a, c: a + c + "x", st.text(max_size=5), controls),
    ),
)
bad_bodies = st.one_of(
    extreme_bodies,
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps({"invoices": v}).encode()),
    st.lists(json_values, max_size=5).map(lambda rows: json.dumps({"invoices": rows}).encode()),
)


@BOUNDED
@given(bad_bodies)
def test_generated_bulk_bodies_are_refused(body):
    try:
        batch = Batch.parse(body, "invoices", InvoiceIn)
    except (InvalidInput, TooLarge):
        return
    rows = [row for _, row in batch.items]
    # what passes the parser has only bounded, storable values; amounts are checked by the service
    assert batch.errors or all(to_amount_refused(row["total"]) for row in rows)


def to_amount_refused(amount) -> bool:
    try:
        to_minor(amount, "EUR")
    except ValueError:
        return True
    return False


@BOUNDED
@given(
    st.lists(
        st.one_of(bad_amounts.map(str), st.text(st.characters(exclude_categories=["Cs"]), max_size=300)),
        min_size=7,
        max_size=7,
    ),
    bad_amounts.map(str),
)
def test_generated_csv_rows_are_refused_with_their_line(tmp_path_factory, db, clock, cells, amount):
    path = tmp_path_factory.mktemp("csv") / "invoices.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "customer_external_id", "number", "currency", "total", "issued_on", "due_on"])
        writer.writerow([*cells[:4], amount, *cells[5:]])
    try:
        report = import_file(db, clock, path, "invoices", mapping={}, create_customers=True)
    except InvalidInput:
        return  # a file this cannot read at all
    assert report.errors and all(e["line"] == 2 for e in report.errors) and report.result.created == 0


yaml_junk = st.text(alphabet="&*[]{}:-!|>'\"#%@`,? \n\tabcxyz0123456789", max_size=400)
deep_yaml = st.integers(21, 100_000).map(lambda d: nested(d)) | st.integers(21, 300).map(
    lambda d: "".join(f"{'  ' * i}k{i}:\n" for i in range(d))
)
bombs = st.integers(2, 9).map(
    lambda levels: (
        "a0: &a0 [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, levels))
    )
)


@BOUNDED
@given(st.one_of(yaml_junk, deep_yaml, bombs))
def test_generated_policy_documents_are_refused(text):
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_generated_extremes_get_a_4xx_over_http(client):
    client.post("/v1/customers/bulk", json={"customers": [{"external_id": "C", "name": "C"}]})
    promise = st.builds(
        lambda a: json.dumps({"amount": a, "currency": "EUR", "date": "2026-03-10"}).encode(), bad_amounts.map(str)
    )

    @settings(max_examples=40, deadline=timedelta(seconds=2), database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(extreme_bodies, promise))
    def exercise(body):
        for method, path in (
            ("POST", "/v1/invoices/bulk"),
            ("POST", "/v1/customers/C/promises"),
            ("PATCH", "/v1/customers/C/dunning"),
        ):
            r = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (path, body[:100], r.status_code, r.text[:200])

    exercise()
