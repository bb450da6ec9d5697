from __future__ import annotations

import json
from datetime import time
from decimal import Decimal

import pytest
import yaml

from dunning.errors import InvalidInput
from dunning.policies.document import Policy, PolicyError, load_default_policy, parse_policy

MINIMAL = {
    "name": "mini",
    "bands": [{"name": "low", "below": 0.3}, {"name": "high"}],
    "paths": {
        "low": {"steps": [{"key": "r1", "after_days": 3, "kind": "reminder", "channels": ["email"]}]},
        "high": {"steps": [{"key": "r1", "after_days": 1, "kind": "reminder", "channels": ["email", "sms"]}]},
    },
}


def errors_of(text: str, fmt=None) -> list[dict]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, fmt)
    return caught.value.errors


def fields(errors: list[dict]) -> list[str]:
    return [e["field"] for e in errors]


# ---- the shipped default --------------------------------------------------------------------------


def test_default_policy_loads_and_has_the_three_paths():
    policy = load_default_policy()
    assert [b.name for b in policy.bands] == ["low", "medium", "high"]
    assert set(policy.paths) == {"low", "medium", "high"}
    low = policy.paths["low"].steps
    assert (low[0].after_days, low[0].kind, low[0].channels) == (-3, "reminder", ["email"])
    for path in policy.paths.values():
        for step in path.steps:
            if step.kind in ("registered_letter", "agency_handoff"):
                assert step.requires_approval
    high_kinds = [s.kind for s in policy.paths["high"].steps]
    assert {"formal_notice", "registered_letter", "agency_handoff"} <= set(high_kinds)
    assert "sms" in policy.paths["high"].steps[1].channels


def test_default_policy_is_faster_on_higher_risk():
    policy = load_default_policy()

    def day_of(path, key):
        return next(s.after_days for s in policy.paths[path].steps if s.key == key)

    for key in ("r1", "notice", "registered", "agency"):
        assert day_of("high", key) < day_of("medium", key) < day_of("low", key)


# ---- defaults and lookups -------------------------------------------------------------------------


def test_defaults_from_kind_and_contact_rules():
    policy = Policy.model_validate(
        {
            **MINIMAL,
            "paths": {
                **MINIMAL["paths"],
                "high": {
                    "steps": [
                        {"key": "reg", "after_days": 20, "kind": "registered_letter", "channels": ["letter"]},
                        {
                            "key": "agency",
                            "after_days": 40,
                            "kind": "agency_handoff",
                            "channels": ["letter"],
                            "requires_approval": False,
                        },
                    ]
                },
            },
        }
    )
    reg, agency = policy.paths["high"].steps
    assert (reg.template, reg.requires_approval) == ("registered_letter", True)
    assert agency.requires_approval is False  # a policy may say so; the engine still asks for consumers
    low = policy.paths["low"].steps[0]
    assert (low.template, low.requires_approval, low.fees, low.min_amount) == ("reminder", False, False, {})
    assert policy.contact.window.start == time(8) and policy.contact.window.end == time(21)
    assert (policy.contact.min_days_between_contacts, policy.contact.max_contacts_per_7_days) == (3, 7)
    assert policy.jurisdiction == "auto"


def test_steps_are_named_for_people_by_the_policy_or_after_their_kind():
    assert [s.name for s in load_default_policy().paths["high"].steps] == [
        "Reminder before the due date",
        "First reminder",
        "Second reminder",
        "Phone call",
        "Formal notice",
        "Registered letter",
        "Agency hand-off",
    ]
    policy = Policy.model_validate(
        {
            **MINIMAL,
            "paths": {
                **MINIMAL["paths"],
                "low": {
                    "steps": [
                        {"key": "a", "after_days": 1, "kind": "reminder", "channels": ["email"]},
                        {
                            "key": "b",
                            "after_days": 5,
                            "kind": "reminder",
                            "channels": ["email"],
                            "name": "Nudge by email",
                        },
                        {"key": "c", "after_days": 9, "kind": "reminder", "channels": ["email"]},
                        {"key": "d", "after_days": 20, "kind": "formal_notice", "channels": ["letter"]},
                    ]
                },
            },
        }
    )
    assert [s.name for s in policy.paths["low"].steps] == [
        "Reminder 1",
        "Nudge by email",
        "Reminder 2",
        "Formal notice",
    ]
    assert policy.paths["high"].steps[0].name == "Reminder"


@pytest.mark.parametrize(
    "written, after_days",
    [
        ("", None),
        ("entry: first_step", None),
        ("entry: by_age", 0),
        ("entry: {by_age_after_days: 60}", 60),
        ("entry:\n  by_age_after_days: 90", 90),
    ],
)
def test_entry_reads_as_written(written, after_days):
    text = yaml.safe_dump(MINIMAL, sort_keys=False) + written
    assert parse_policy(text).entry.by_age_after_days == after_days
    assert load_default_policy().entry.by_age_after_days == 60  # the shipped default enters a backlog by age


@pytest.mark.parametrize(
    "written, message",
    [
        ("entry: by-age", "'by-age' is not an entry: write first_step, by_age, or {by_age_after_days: 60}"),
        ("entry: {by_age_after_days: -1}", "greater than or equal to 0"),
        ("entry: {after: 60}", "unknown field 'after'"),
    ],
)
def test_a_wrong_entry_is_named_at_its_line(written, message):
    text = yaml.safe_dump(MINIMAL, sort_keys=False) + written
    [error] = errors_of(text)
    assert error["line"] == text.count("\n") + 1 and error["field"].startswith("entry") and message in error["message"]


def test_a_policy_survives_a_json_round_trip():
    policy = load_default_policy()
    dumped = policy.model_dump_json()
    assert '"start":"08:00"' in dumped and '"EUR":"20.00"' in dumped
    assert parse_policy(dumped, "json") == policy


def test_band_for_probability_and_path():
    policy = load_default_policy()
    assert [policy.band_for(p).name for p in (0.0, 0.19, 0.2, 0.49, 0.5, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    name, path = policy.path_for_band("medium")
    assert name == "medium" and path.steps[0].key == "nudge"
    assert policy.path_for_band("nope") is None


def test_min_amount_in_minor_units_per_currency():
    text = json.dumps(
        {
            **MINIMAL,
            "paths": {
                **MINIMAL["paths"],
                "low": {
                    "steps": [
                        {
                            "key": "n",
                            "after_days": 3,
                            "kind": "formal_notice",
                            "channels": ["letter"],
                            "min_amount": {"EUR": "50.10", "JPY": 5000, "GBP": 20.5},
                        }
                    ]
                },
            },
        }
    )
    step = parse_policy(text).paths["low"].steps[0]
    assert step.min_amount == {"EUR": Decimal("50.10"), "JPY": Decimal("5000"), "GBP": Decimal("20.5")}
    assert (step.min_amount_minor("EUR"), step.min_amount_minor("JPY"), step.min_amount_minor("GBP")) == (
        5010,
        5000,
        2050,
    )
    assert step.min_amount_minor("USD") is None


def test_bands_can_share_a_path():
    doc = {
        **MINIMAL,
        "bands": [{"name": "low", "below": 0.3}, {"name": "mid", "below": 0.6, "path": "low"}, {"name": "high"}],
    }
    assert Policy.model_validate(doc).path_for_band("mid")[0] == "low"


# ---- errors point at the line and the field --------------------------------------------------------

BROKEN = """\
name: broken
bands:
  - name: low
    below: 0.5
  - name: high
    below: 0.4
paths:
  low:
    steps:
      - key: a
        after_days: 10
        kind: reminder
        channels: [email]
      - key: a
        after_days: 5
        kind: agency_handoff
        channels: [letter]
contact:
  window: {start: "09:00", end: "18:00"}
"""


def test_cross_field_errors_point_at_the_offending_field_and_line():
    errors = errors_of(BROKEN)
    assert {(e["field"], e["line"]) for e in errors} == {
        ("bands.1.below", 6),  # the last band is not open-ended, and 0.4 < 0.5
        ("bands.1.name", 5),  # no path "high"
        ("paths.low.steps.1.key", 14),  # "a" twice
        ("paths.low.steps.1.after_days", 15),  # 5 after 10
    }
    messages = " | ".join(e["message"] for e in errors)
    assert "open-ended" in messages and "increase" in messages and "used twice" in messages
    assert "must be in order" in messages and "no path named 'high'" in messages


def test_field_errors_point_at_the_line():
    text = BROKEN.replace("channels: [letter]", "channels: [sms]").replace('end: "18:00"', "end: 18:00")
    text = text.replace("        after_days: 10\n", "        after_days: ten\n")
    text += "  max_contacts_per_7_days: 9\n  colour: blue\n"
    errors = {e["field"]: e for e in errors_of(text)}
    assert errors["paths.low.steps.0.after_days"]["line"] == 11
    assert errors["paths.low.steps.1.channels"]["line"] == 17
    assert "agency_handoff cannot use sms" in errors["paths.low.steps.1.channels"]["message"]
    assert errors["contact.window.end"]["line"] == 19  # YAML read 18:00 as 1080
    assert "quoted" in errors["contact.window.end"]["message"]
    assert errors["contact.max_contacts_per_7_days"]["line"] == 20
    assert errors["contact.colour"] == {"line": 21, "field": "contact.colour", "message": "unknown field 'colour'"}


def test_missing_field_points_at_its_parent():
    text = (
        "name: x\nbands:\n  - name: low\npaths:\n  low:\n    steps:\n      - key: r1\n        kind: reminder\n"
        "        channels: [email]\n"
    )
    errors = errors_of(text)
    assert errors == [{"line": 7, "field": "paths.low.steps.0.after_days", "message": "this field is required"}]


def test_yaml_syntax_error_has_its_line():
    errors = errors_of("name: x\nbands:\n  - name: low\n   bad: [\n")
    assert len(errors) == 1 and errors[0]["line"] in (4, 5) and errors[0]["message"].startswith("invalid YAML")


def test_duplicate_yaml_keys_are_refused_not_silently_merged():
    text = yaml.safe_dump(MINIMAL, sort_keys=False) + "name: again\n"
    errors = errors_of(text)
    assert errors[0]["field"] == "name" and errors[0]["line"] == text.count("\n") and "twice" in errors[0]["message"]


def test_json_errors_give_the_field_path_and_line():
    doc = json.loads(json.dumps(MINIMAL))
    doc["paths"]["high"]["steps"][0]["after_days"] = 99999
    text = json.dumps(doc, indent=2)
    errors = errors_of(text)  # format guessed from the leading brace
    assert [e["field"] for e in errors] == ["paths.high.steps.0.after_days"]
    assert errors[0]["line"] == next(i for i, line in enumerate(text.splitlines(), 1) if "99999" in line)
    assert errors_of('{\n  "name": ', "json")[0]["line"] == 2


def test_not_a_mapping():
    assert errors_of("- a\n- b\n")[0]["message"] == "a policy document must be a mapping of fields"


@pytest.mark.parametrize(
    "step, message",
    [
        ({"channels": []}, "at least 1"),
        ({"channels": ["email", "email"]}, "listed twice"),
        ({"channels": ["fax"]}, "'email', 'sms', 'letter' or 'task'"),
        ({"kind": "registered_letter", "channels": ["email"]}, "registered_letter cannot use email"),
        ({"kind": "call_task", "channels": ["email"]}, "call_task cannot use email"),
        ({"key": "has space"}, "pattern"),
        ({"min_amount": {"EUR": "1.234"}}, "EUR has 2 decimal places"),
        ({"min_amount": {"JPY": "10.5"}}, "JPY has 0 decimal places"),
        ({"min_amount": {"EURO": "10"}}, "not an ISO 4217"),
        ({"min_amount": {"EUR": "-1"}}, "zero or more"),
        ({"min_amount": {"EUR": "lots"}}, "not an amount"),
        ({"after_days": -61}, "greater than or equal to -60"),
    ],
)
def test_step_validation_messages(step, message):
    base = {"key": "r1", "after_days": 3, "kind": "reminder", "channels": ["email"]}
    doc = {**MINIMAL, "paths": {**MINIMAL["paths"], "low": {"steps": [{**base, **step}]}}}
    errors = errors_of(json.dumps(doc))
    assert any(e["field"].startswith("paths.low.steps.0") and message in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"bands": [{"name": "low"}, {"name": "high"}]}, "bands.0.below"),
        ({"bands": [{"name": "low", "below": 1.5}, {"name": "high"}]}, "bands.0.below"),
        ({"bands": [{"name": "low", "below": 0.3}, {"name": "low"}]}, "bands.1.name"),
        ({"bands": [{"name": "low", "below": 0.3}, {"name": "high", "path": "nowhere"}]}, "bands.1.path"),
        ({"contact": {"window": {"start": "20:00", "end": "08:00"}}}, "contact.window"),
        ({"contact": {"window": {"start": "25:00"}}}, "contact.window.start"),
        ({"contact": {"min_days_between_contacts": 0}}, "contact.min_days_between_contacts"),
        ({"plans": {"min_installment_amount": {"EUR": "10.001"}}}, "plans.min_installment_amount"),
        ({"jurisdiction": "CH"}, "jurisdiction"),
        ({"paths": {"low": {"steps": []}, "high": MINIMAL["paths"]["high"]}}, "paths.low.steps"),
    ],
)
def test_document_validation(patch, field):
    assert field in fields(errors_of(json.dumps({**MINIMAL, **patch})))


def test_policy_error_is_a_422_domain_error_with_the_list():
    with pytest.raises(InvalidInput) as caught:
        parse_policy(BROKEN)
    assert caught.value.status == 422
    body = caught.value.body()
    assert body["error"] == "invalid" and body["errors"] == caught.value.errors
    assert "line 5: bands.1.name" in str(caught.value)


def test_direct_validation_raises_the_same_error_without_lines():
    doc = {**MINIMAL, "bands": [{"name": "low", "below": 0.3}, {"name": "zzz"}]}
    with pytest.raises(PolicyError) as caught:
        Policy.model_validate(doc)
    assert caught.value.errors == [
        {"line": None, "field": "bands.1.name", "message": "no path named 'zzz' under 'paths'"}
    ]
    json.dumps(caught.value.errors)  # serialisable as is
