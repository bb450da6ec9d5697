"""A policy document's bounds: no anchors or aliases, bounded nesting and length, storable text."""

from __future__ import annotations

import json
import time

import pytest

from dunning.policies.document import MAX_DEPTH, MAX_DOCUMENT, PolicyError, load_default_policy, parse_policy
from dunning.policies.service import default_document


def alias_bomb() -> str:
    """380 bytes whose aliases nest eight levels of nine: 43 million nodes once expanded (the
    finding's document took 49 s to refuse; this one took 45 s)."""
    lines = ["name: default  # 9^8", "a0: &a0 [" + ",".join(["ha"] * 9) + "]"]
    for level in range(1, 8):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def errors_of(text: str, fmt=None) -> list[dict]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, fmt)
    return caught.value.errors


def test_nested_aliases_are_refused_in_milliseconds():
    bomb = alias_bomb()
    assert len(bomb.encode()) == 380
    started = time.perf_counter()
    errors = errors_of(bomb, "yaml")
    assert time.perf_counter() - started < 0.5
    assert errors == [
        {"line": 2, "field": "", "message": "invalid YAML: anchors and aliases (& and *) are not allowed in a policy"}
    ]


def test_a_single_alias_is_refused_at_its_line():
    text = default_document() + "\nextra: &x 1\nagain: *x\n"
    assert "anchors and aliases" in errors_of(text)[0]["message"]


@pytest.mark.parametrize(
    "text, fmt",
    [
        ("[" * 5000 + "]" * 5000, "yaml"),
        ("a:\n" + "".join(f"{' ' * (2 * i)}- \n" for i in range(1, 40)), "yaml"),
        ('{"name": ' + "[" * 5000 + "]" * 5000 + "}", "json"),
    ],
)
def test_deep_documents_are_refused_quickly(text, fmt):
    # were RecursionError (500) in the composer and in the JSON parser
    started = time.perf_counter()
    errors = errors_of(text, fmt)
    assert time.perf_counter() - started < 0.5
    assert errors[0]["field"] == "" and ("deeper than" in errors[0]["message"] or "recursion" in errors[0]["message"])


def test_nesting_at_the_bound_is_parsed():
    nested = "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert "unknown field 'x'" in json.dumps(errors_of(nested, "yaml"))


def test_length_and_text_are_bounded():
    long = default_document() + "#" * MAX_DOCUMENT
    assert "at most 200,000 characters" in errors_of(long)[0]["message"]
    doc = json.dumps({"name": "default", "description": "a\u0000b"})
    assert "NUL" not in doc and errors_of(doc, "json")  # an escaped NUL is refused by the fields
    raw = default_document().replace("description:", "description: bad\x07", 1)
    found = errors_of(raw)[0]
    assert found["line"] == raw[: raw.index("\x07")].count("\n") + 1
    assert found["message"] == f"must not contain control characters (U+0007 at character {raw.index(chr(7)) + 1})"


def test_amounts_in_a_policy_follow_the_grammar():
    base = json.loads(json.dumps(load_default_policy().model_dump(mode="json", exclude={"version"})))
    for text, words in (
        ("1e999999", "EUR: '1e999999' is not an amount"),
        ("1_000", "is not an amount"),
        ("+1.00000000000000000000000000001", "is not an amount"),
        ("10000000000000", "too large"),
    ):
        doc = json.loads(json.dumps(base))
        doc["plans"]["min_installment_amount"] = {"EUR": text}
        assert any(words in e["message"] for e in errors_of(json.dumps(doc), "json")), text
