"""The dunning policy document: what collections teams write, validate and version.

A policy is YAML or JSON text. `parse_policy` turns it into a `Policy` or raises `PolicyError`
whose errors each name the field path ("paths.high.steps.2.after_days") and, for YAML, the line,
because the people who write these are not the people who read pydantic tracebacks.

Validation happens in two passes. Pydantic checks shapes and ranges field by field; then
`Policy._cross_checks` looks at the document as a whole (bands against paths, step order, unique
keys) and reports each problem at the exact field that causes it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal

import yaml
from babel.numbers import is_currency
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from dunning.bounds import first_unstorable, load_json, text_problem
from dunning.contacts.models import Role
from dunning.errors import InvalidInput
from dunning.money import from_minor, to_minor

Kind = Literal["reminder", "formal_notice", "registered_letter", "agency_handoff", "call_task"]
Channel = Literal["email", "sms", "letter", "task"]

# Which channels make sense for each kind of step. A registered letter is a letter; an agency
# hand-off tells the debtor in writing (never by text message); a call is a task for a person.
CHANNELS_FOR_KIND: dict[str, frozenset[str]] = {
    "reminder": frozenset({"email", "sms", "letter", "task"}),
    "formal_notice": frozenset({"email", "sms", "letter", "task"}),
    "registered_letter": frozenset({"letter"}),
    "agency_handoff": frozenset({"email", "letter", "task"}),
    "call_task": frozenset({"task"}),
}
# Steps heavy enough that, unless the policy says otherwise, a person approves each one.
HEAVY_KINDS = frozenset({"registered_letter", "agency_handoff"})
# What a step is called where people read it (the desk, the preview, tasks) when the policy gives
# it no `name`; numbered when a path has several of a kind ("Reminder 2").
KIND_NAMES = {
    "reminder": "Reminder",
    "formal_notice": "Formal notice",
    "registered_letter": "Registered letter",
    "agency_handoff": "Agency hand-off",
    "call_task": "Phone call",
}

Loc = tuple[str | int, ...]
MAX_DOCUMENT = 200_000  # characters; the shipped default has about 8,000
MAX_DEPTH = 20  # levels of nesting; a policy has 6


class PolicyError(InvalidInput):
    """An invalid policy document. `errors` is a list of {"line", "field", "message"}."""

    def __init__(self, errors: list[dict[str, Any]], message: str = "invalid policy document"):
        super().__init__(message, detail=errors)
        self.errors = errors

    def __str__(self) -> str:
        return "; ".join(
            (f"line {e['line']}: " if e.get("line") else "") + f"{e['field'] or '(document)'}: {e['message']}"
            for e in self.errors
        )


def _problem(loc: Loc, message: str) -> dict[str, Any]:
    return {"line": None, "field": ".".join(str(p) for p in loc), "message": message}


# ---- field types ------------------------------------------------------------------------------


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260: refuse numbers outright
    # rather than guess what was meant. "HH:MM:SS" is what a JSON dump of the model gives back.
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::00)?", value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError('a time of day must be a quoted "HH:MM" string, e.g. "08:00"')
    hours, minutes = int(match[1]), int(match[2])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return time(hours, minutes)


TimeOfDay = Annotated[
    time, BeforeValidator(_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"), when_used="json")
]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]


def _amounts(value: Any) -> Any:
    """{currency: amount} as exact Decimals, by the amount grammar and bounds of money.to_minor and
    the currency's decimals. YAML reads an unquoted 50.10 as a float: its shortest repr is what
    was written."""
    if not isinstance(value, dict):
        return value  # pydantic says what is wrong with the shape
    out = {}
    for currency, amount in value.items():
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper() and is_currency(currency)):
            raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
        if isinstance(amount, bool) or not isinstance(amount, (str, int, float, Decimal)):
            raise ValueError(f'{currency}: an amount must be a decimal string in major units, e.g. "50.00"')
        try:
            minor = to_minor(amount, currency)
        except ValueError as e:
            raise ValueError(f"{currency}: {e}") from None
        if minor < 0:
            raise ValueError(f"{currency}: an amount must be zero or more")
        out[currency] = from_minor(minor, currency)
    return out


# per currency, in major units
Amounts = Annotated[dict[str, Decimal], BeforeValidator(_amounts)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the document -----------------------------------------------------------------------------


class Step(_Model):
    key: Name  # stable id within the path: messages are keyed on it, policy changes map by it
    name: str = Field(min_length=1, max_length=100)  # what people read; Path gives a default from the kind
    after_days: int = Field(ge=-60, le=3650)  # from the anchor due date; negative = before due
    kind: Kind
    channels: list[Channel] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=100)  # defaults to the kind
    requires_approval: bool  # defaults to true for registered letters and agency hand-offs
    min_amount: Amounts = Field(default_factory=dict)  # below it the step waits
    fees: bool = False  # show statutory interest and compensation on this step
    # whom it writes to and copies, by contact role (dunning/contacts/roles.py): email goes to every
    # `to` contact with `cc` in copy; a text or a letter to the first `to` contact it can reach
    to: list[Role] = Field(default_factory=lambda: list[Role](["primary"]), min_length=1)
    cc: list[Role] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            data = dict(data)
            data.setdefault("template", data["kind"])
            data.setdefault("requires_approval", data["kind"] in HEAVY_KINDS)
        return data

    @field_validator("channels")
    @classmethod
    def _channels_fit_kind(cls, channels: list[str], info: Any) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice")
        kind = info.data.get("kind")
        if kind is not None:
            wrong = [c for c in channels if c not in CHANNELS_FOR_KIND[kind]]
            if wrong:
                allowed = ", ".join(sorted(CHANNELS_FOR_KIND[kind]))
                raise ValueError(f"{kind} cannot use {', '.join(wrong)} (allowed: {allowed})")
        return channels

    @field_validator("to", "cc")
    @classmethod
    def _roles_once(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("a role is listed twice")
        return roles

    def min_amount_minor(self, currency: str) -> int | None:
        amount = self.min_amount.get(currency)
        return None if amount is None else to_minor(amount, currency)


class Path(_Model):
    description: str = Field("", max_length=2000)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _default_names(cls, data: Any) -> Any:
        steps = data.get("steps") if isinstance(data, dict) else None
        if not isinstance(steps, list):
            return data

        def unnamed_kind(step: Any) -> str | None:
            kind = step.get("kind") if isinstance(step, dict) and "name" not in step else None
            return kind if isinstance(kind, str) and kind in KIND_NAMES else None

        of_kind = Counter(k for k in map(unnamed_kind, steps) if k)
        seen: Counter[str] = Counter()
        named = []
        for step in steps:
            if kind := unnamed_kind(step):
                seen[kind] += 1
                step = {**step, "name": KIND_NAMES[kind] + (f" {seen[kind]}" if of_kind[kind] > 1 else "")}
            named.append(step)
        return {**data, "steps": named}

    def index_of(self, key: str) -> int | None:
        return next((i for i, s in enumerate(self.steps) if s.key == key), None)

    @property
    def lead_days(self) -> int:
        """How many days before the due date this path starts (0 when it starts after)."""
        return max(0, -self.steps[0].after_days)


class Band(_Model):
    name: Name
    below: float | None = Field(None, gt=0, le=1)  # calibrated risk probability; last band open-ended
    path: Name | None = None  # defaults to the band's name

    @property
    def path_name(self) -> str:
        return self.path or self.name


class Entry(_Model):
    """Where a new case enters its path (engine R15). Written `first_step`, `by_age`, or
    `{by_age_after_days: N}`: by age once the oldest invoice is more than N days late."""

    by_age_after_days: int | None = Field(None, ge=0, le=3650)  # None: always at the first step

    @model_validator(mode="before")
    @classmethod
    def _words(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in ENTRY_WORDS:
                raise ValueError(f"{data!r} is not an entry: write first_step, by_age, or {{by_age_after_days: 60}}")
            return {"by_age_after_days": ENTRY_WORDS[data]}
        return data


ENTRY_WORDS = {"first_step": None, "by_age": 0}


class ContactWindow(_Model):
    start: TimeOfDay = time(8, 0)
    end: TimeOfDay = time(21, 0)

    @model_validator(mode="after")
    def _ordered(self) -> ContactWindow:
        if self.start >= self.end:
            raise ValueError("the window must end after it starts, on the same day")
        return self


class ContactRules(_Model):
    window: ContactWindow = ContactWindow()  # in the customer's local time
    business_days_only: bool = True  # no weekends, no public holidays of the customer's country
    # At least one day: two reminders the same day read as harassment, whatever the steps say.
    min_days_between_contacts: int = Field(3, ge=1, le=60)
    max_contacts_per_7_days: int = Field(7, ge=1, le=7)


class PromiseRules(_Model):
    grace_days: int = Field(2, ge=0, le=60)  # after the promised date before the promise is broken
    max_broken: int = Field(2, ge=0, le=20)  # after this many broken promises, a new one no longer pauses


class PlanRules(_Model):
    max_installments: int = Field(6, ge=2, le=60)
    min_installment_amount: Amounts = Field(default_factory=dict)
    max_months: int = Field(6, ge=1, le=60)
    reminder_days_before: int = Field(3, ge=0, le=30)
    grace_days: int = Field(5, ge=0, le=60)


class Policy(_Model):
    _bands_by_name: dict[str, Band] = PrivateAttr(default_factory=dict)
    name: Name
    description: str = Field("", max_length=2000)
    # Assigned by the policy store when a document is saved; authors leave it out.
    version: int | None = None
    bands: list[Band] = Field(min_length=1)
    paths: dict[Name, Path] = Field(min_length=1)
    entry: Entry = Entry()
    contact: ContactRules = ContactRules()
    promises: PromiseRules = PromiseRules()
    plans: PlanRules = PlanRules()
    # "auto": by the customer's country (see law.rule_for); or force one law for everyone.
    jurisdiction: Literal["auto", "GB", "UK", "FR", "DE", "EU", "ES", "IT", "NL", "BE", "US", "none"] = "auto"

    @model_validator(mode="after")
    def _whole_document(self) -> Policy:
        problems = list(self._cross_checks())
        if problems:
            raise PolicyError(problems)
        return self

    def _cross_checks(self) -> Iterable[dict[str, Any]]:
        seen: set[str] = set()
        previous_below = 0.0
        for i, band in enumerate(self.bands):
            last = i == len(self.bands) - 1
            if band.name in seen:
                yield _problem(("bands", i, "name"), f"band {band.name!r} is defined twice")
            seen.add(band.name)
            if last and band.below is not None:
                yield _problem(("bands", i, "below"), "the last band must be open-ended: remove 'below'")
            if not last and band.below is None:
                yield _problem(("bands", i, "below"), "every band but the last needs a 'below' threshold")
            if band.below is not None:
                if band.below <= previous_below:
                    yield _problem(("bands", i, "below"), "thresholds must increase from one band to the next")
                previous_below = band.below
            if band.path_name not in self.paths:
                field = "path" if band.path else "name"
                yield _problem(("bands", i, field), f"no path named {band.path_name!r} under 'paths'")
        for name, path in self.paths.items():
            keys: set[str] = set()
            for j, step in enumerate(path.steps):
                if step.key in keys:
                    yield _problem(
                        ("paths", name, "steps", j, "key"), f"step key {step.key!r} is used twice in this path"
                    )
                keys.add(step.key)
                if j and step.after_days < path.steps[j - 1].after_days:
                    yield _problem(
                        ("paths", name, "steps", j, "after_days"),
                        f"steps must be in order: {step.after_days} comes after {path.steps[j - 1].after_days}",
                    )

    # -- lookups used by the engine --

    def model_post_init(self, _context: Any) -> None:
        # the engine looks bands up for every case of every cycle
        self._bands_by_name = {b.name: b for b in self.bands}

    def band(self, name: str) -> Band | None:
        return self._bands_by_name.get(name)

    def band_for(self, probability: float) -> Band:
        """The band of a calibrated risk probability: the first whose threshold it is below."""
        for band in self.bands:
            if band.below is None or probability < band.below:
                return band
        return self.bands[-1]

    def path_for_band(self, band: str) -> tuple[str, Path] | None:
        found = self.band(band)
        if found is None:
            return None
        return found.path_name, self.paths[found.path_name]


# ---- parsing ----------------------------------------------------------------------------------


def parse_policy(text: str, fmt: str | None = None) -> Policy:
    """Parse and validate a policy document. `fmt` None guesses: JSON if it starts with '{'; a
    stored row's format other than "yaml" and "json" is refused (ValueError)."""
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if len(text) > MAX_DOCUMENT:
        raise PolicyError(
            [
                {
                    "line": None,
                    "field": "",
                    "message": f"a policy document has at most {MAX_DOCUMENT:,} characters; this one has {len(text):,}",
                }
            ]
        )
    if (at := first_unstorable(text, multiline=True)) is not None:
        raise PolicyError(
            [{"line": text.count("\n", 0, at) + 1, "field": "", "message": text_problem(text, multiline=True)}]
        )
    if fmt == "json":
        try:
            data = load_json(text)
        except json.JSONDecodeError as e:
            raise PolicyError([{"line": e.lineno, "field": "", "message": f"invalid JSON: {e.msg}"}]) from None
        root = _yaml_nodes_or_none(text)  # JSON is YAML: line numbers for free, when PyYAML agrees
    elif fmt == "yaml":
        try:
            root, data = _load_yaml(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else None
            raise PolicyError([{"line": line, "field": "", "message": f"invalid YAML: {e.problem or e}"}]) from None
        except yaml.YAMLError as e:
            raise PolicyError([{"line": None, "field": "", "message": f"invalid YAML: {e}"}]) from None
    else:
        raise ValueError(f"unknown policy format {fmt!r}")
    duplicates = list(_duplicate_keys(root, ()))
    if duplicates:
        raise PolicyError(duplicates)

    if not isinstance(data, dict):
        raise PolicyError([{"line": 1, "field": "", "message": "a policy document must be a mapping of fields"}])
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        raise PolicyError([_located(root, _from_pydantic(err)) for err in e.errors()]) from None
    except PolicyError as e:
        raise PolicyError([_located(root, err) for err in e.errors]) from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases, and with bounded nesting. A policy has no
    use for either, and both cost without bound: 380 bytes of nested aliases expand to billions of
    nodes (49 s to refuse), and the composer recurses once per level."""

    depth = 0

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # "[[[[..." is refused as the scanner reads it: looking ahead for simple keys through
        # thousands of open brackets cost it half a second before the composer saw the first one
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves it unannotated
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed in a policy", event.start_mark
            )
        if self.depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data built from it, in one pass."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


def _from_pydantic(err: Any) -> dict[str, Any]:
    loc = tuple(err["loc"])
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    elif err["type"] == "missing":
        message = "this field is required"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return _problem(loc, message)


def _located(root: yaml.Node | None, err: dict[str, Any]) -> dict[str, Any]:
    if err.get("line") is None and root is not None:
        err = {**err, "line": _line_of(root, err["field"].split(".") if err["field"] else [])}
    return err


def _line_of(node: yaml.Node, loc: list[str]) -> int:
    """The line of the deepest node on `loc` that exists in the document (1-based).

    A missing field points at its parent; a mapping entry points at its key, which is where a
    reader looks ("after_days: x" rather than the first line of a nested block).
    """
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node | None, loc: Loc) -> Iterable[dict[str, Any]]:
    # PyYAML keeps the last of two equal keys without a word: two `high:` paths would silently
    # become one. Say so instead.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            if name in seen:
                yield {
                    "line": key.start_mark.line + 1,
                    "field": ".".join(str(p) for p in (*loc, name)),
                    "message": f"{name!r} appears twice",
                }
            seen.add(name)
            yield from _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i))


def _yaml_nodes_or_none(text: str) -> yaml.Node | None:
    try:
        return _load_yaml(text)[0]
    except yaml.YAMLError:
        return None


def load_default_policy() -> Policy:
    from importlib.resources import files

    return parse_policy(files("dunning.policies").joinpath("default.yaml").read_text(encoding="utf-8"), "yaml")


__all__ = [
    "CHANNELS_FOR_KIND",
    "HEAVY_KINDS",
    "Band",
    "ContactRules",
    "ContactWindow",
    "Entry",
    "Path",
    "PlanRules",
    "Policy",
    "PolicyError",
    "PromiseRules",
    "Step",
    "load_default_policy",
    "parse_policy",
]
