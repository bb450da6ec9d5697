"""The published test cases of three reply parsers, read from their own repositories at run time.

github/email_reply_parser (Ruby), zapier/email-reply-parser (its Python port) and mailgun/talon
publish tests that give, for a message, the text a reply parser should keep. Nothing of theirs is
copied into this project: DUNNING_PEER_FIXTURES_DIR names a directory holding the three
repositories as cloned (`email_reply_parser/`, `email-reply-parser/`, `talon/`), and the cases are
read from their test sources when the test runs: Python's `ast` for the Python suites, a reader of
double-quoted string literals for the Ruby one.

A case is every assertion that compares a parser's whole output with a given text: Ruby's and the
port's `parse_reply` equalities, talon's `eq_(..., extract_from_plain/extract_from_html(...))`
(including those made through a helper such as `_check_pattern_original_message`) and its
standard replies. Assertions about fragments, markers or timings give no text and are not cases;
tests whose result depends on a patched constant (`@patch`) are left out.

Comparison: plain text with whitespace runs collapsed; where the peer compared without any
whitespace (talon's HTML tests), both sides without whitespace; an expected HTML document is
compared on its text.

    python -m tests.replies.peers [DIR] [-v]     prints "peer fixtures: N of M match" (-v: the misses)
"""

from __future__ import annotations

import ast
import email.message
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ENV = "DUNNING_PEER_FIXTURES_DIR"
GITHUB, ZAPIER, TALON = "email_reply_parser", "email-reply-parser", "talon"


@dataclass(frozen=True)
class Case:
    name: str  # repository:test (with #n when a test makes several)
    kind: str  # text | html | eml
    body: str | bytes
    expected: str
    expected_is_html: bool = False
    no_whitespace: bool = False  # the peer compared with every whitespace character removed

    def raw(self) -> bytes:
        """The case as the inbound endpoint receives it: a MIME message."""
        if self.kind == "eml":
            return self.body if isinstance(self.body, bytes) else self.body.encode()
        msg = email.message.EmailMessage()
        msg["From"], msg["Subject"] = "customer@example.com", "Re: test"
        msg.set_content(self.body, subtype="plain" if self.kind == "text" else "html", cte="base64")
        return msg.as_bytes()


def expected_text(case: Case) -> str:
    if case.expected_is_html:
        from dunning.replies.htmltext import html_to_text

        return html_to_text(case.expected)
    return case.expected


def normalise(text: str, no_whitespace: bool) -> str:
    return re.sub(r"\s+", "", text) if no_whitespace else " ".join(text.split())


def matches(case: Case, reply_text: str) -> bool:
    return normalise(reply_text, case.no_whitespace) == normalise(expected_text(case), case.no_whitespace)


def load(root: Path) -> list[Case]:
    missing = [name for name in (GITHUB, ZAPIER, TALON) if not (root / name).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} lacks {', '.join(missing)} (clone the three repositories into it)")
    return [*_github(root / GITHUB), *_zapier(root / ZAPIER), *_talon(root / TALON)]


# --------------------------------------------------------------------------- github (Ruby)

_RUBY_STRING = r'"((?:[^"\\]|\\.)*)"'
_RUBY_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


def _ruby(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _RUBY_ESCAPES.get(m.group(1), m.group(0)), literal, flags=re.S)


def _github(repo: Path) -> Iterator[Case]:
    source = (repo / "test" / "email_reply_parser_test.rb").read_text()
    for name, body in re.findall(r"^  def (test_\w+)\n(.*?)^  end$", source, flags=re.M | re.S):
        strings = {m.group(1): _ruby(m.group(2)) for m in re.finditer(rf"(\w+) = {_RUBY_STRING}", body)}
        fixture = re.search(r'EMAIL_FIXTURE_PATH\.join\("([\w.]+)"\)', body)
        for m in re.finditer(rf"assert_equal (?:{_RUBY_STRING}|(\w+)),\s*EmailReplyParser\.parse_reply\((\w+)\)", body):
            literal, variable, argument = m.groups()
            expected = _ruby(literal) if literal is not None else strings.get(variable)
            if argument in strings:
                text = strings[argument]
            elif fixture is not None:
                text = (repo / "test" / "emails" / fixture.group(1)).read_text()
            else:
                continue
            if expected is not None:
                yield Case(f"{GITHUB}:{name}", "text", text, expected)


# --------------------------------------------------------------------------- zapier (Python, unittest)


def _zapier(repo: Path) -> Iterator[Case]:
    tree = ast.parse((repo / "test" / "test_email_reply_parser.py").read_text())
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_"):
            continue
        fixture = None
        for node in ast.walk(fn):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = re.fullmatch(r"test/emails/(\w+)\.txt", node.value)
                fixture = m.group(1) if m else fixture
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get_email":
                fixture = node.args[0].value
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "assertEqual"):
                continue
            sides = node.args[:2]
            literal = next((a.value for a in sides if isinstance(a, ast.Constant) and isinstance(a.value, str)), None)
            reply = next((a for a in sides if "parse_reply" in ast.dump(a) or "attr='reply'" in ast.dump(a)), None)
            if literal is not None and reply is not None and fixture is not None:
                text = (repo / "test" / "emails" / f"{fixture}.txt").read_text()
                yield Case(f"{ZAPIER}:{fn.name}", "text", text, literal)


# --------------------------------------------------------------------------- talon (Python, nose)
#
# Each test function is walked statement by statement with a tiny evaluator: string constants and
# their concatenation, .format/.replace, names bound earlier, files opened and read, module-level
# helpers called with known arguments, and the value "what the extractor returned for X".


@dataclass(frozen=True)
class _Extracted:
    body: str
    html: bool
    as_text: bool = False  # passed through talon's html_to_text


@dataclass(frozen=True)
class _File:
    path: Path


class _Unknown(Exception):
    pass


class _Talon:
    def __init__(self, repo: Path):
        self.repo = repo
        self.globals: dict[str, object] = self._fixture_constants()

    def _fixture_constants(self) -> dict[str, object]:
        # tests/fixtures/__init__.py: NAME = "path" and `with open("path") as f: NAME = f.read()`.
        env: dict[str, object] = {}
        self._run(ast.parse((self.repo / "tests" / "fixtures" / "__init__.py").read_text()).body, env, {}, [])
        return env

    def cases(self) -> Iterator[Case]:
        for module in ("quotations_test.py", "text_quotations_test.py", "html_quotations_test.py"):
            tree = ast.parse((self.repo / "tests" / module).read_text())
            helpers = {
                f.name: f for f in tree.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("test_")
            }
            for fn in tree.body:
                if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_") or fn.decorator_list:
                    continue
                found: list[tuple[str, str, bool, bool, bool]] = []
                if fn.name == "test_standard_replies":
                    yield from self._standard_replies(fn)
                    continue
                self._run(fn.body, dict(self.globals), helpers, found)
                for i, (body, expected, html, expected_html, no_ws) in enumerate(found, start=1):
                    suffix = f"#{i}" if len(found) > 1 else ""
                    yield Case(
                        f"{TALON}:{fn.name}{suffix}",
                        "html" if html else "text",
                        body,
                        expected,
                        expected_is_html=expected_html,
                        no_whitespace=no_ws,
                    )

    def _standard_replies(self, fn: ast.FunctionDef) -> Iterator[Case]:
        # A loop over tests/fixtures/standard_replies/*.eml: the expected text is <name>_reply_text
        # when that file exists, else the default the test assigns.
        default = next(
            n.value.value
            for n in ast.walk(fn)
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Constant)
            and getattr(n.targets[0], "id", None) == "reply_text"
        )
        folder = self.repo / "tests" / "fixtures" / "standard_replies"
        for eml in sorted(folder.glob("*.eml")):
            reply = folder / f"{eml.stem}_reply_text"
            expected = reply.read_text().strip() if reply.exists() else default
            yield Case(f"{TALON}:{fn.name}:{eml.name}", "eml", eml.read_bytes(), expected)

    def _run(self, body: list[ast.stmt], env: dict, helpers: dict, found: list) -> None:
        for stmt in body:
            try:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    env[stmt.targets[0].id] = self._eval(stmt.value, env)
                elif isinstance(stmt, ast.With):
                    for item in stmt.items:
                        if isinstance(item.optional_vars, ast.Name):
                            env[item.optional_vars.id] = self._eval(item.context_expr, env)
                    self._run(stmt.body, env, helpers, found)
                elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                    self._call(stmt.value, env, helpers, found)
            except _Unknown:
                if isinstance(stmt, ast.Assign):
                    env.pop(getattr(stmt.targets[0], "id", ""), None)

    def _call(self, call: ast.Call, env: dict, helpers: dict, found: list) -> None:
        name = getattr(call.func, "id", None)
        if name == "eq_" and len(call.args) >= 2:
            self._equality(call.args[0], call.args[1], env, found)
        elif name in helpers:
            helper = helpers[name]
            params = [a.arg for a in helper.args.args]
            bound = dict(self.globals)
            bound.update(zip(params, (self._eval(a, env) for a in call.args)))
            self._run(helper.body, bound, helpers, found)

    def _equality(self, a: ast.expr, b: ast.expr, env: dict, found: list) -> None:
        left, right = self._compared(a, env), self._compared(b, env)
        for (got, got_ws), (want, want_ws) in ((left, right), (right, left)):
            if isinstance(got, _Extracted) and isinstance(want, str):
                expected_html = got.html and not got.as_text
                found.append((got.body, want, got.html, expected_html, got_ws or want_ws))
                return

    def _compared(self, node: ast.expr, env: dict) -> tuple[object, bool]:
        # RE_WHITESPACE.sub('', X): the peer compares X without whitespace.
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "sub"
            and getattr(node.func.value, "id", None) == "RE_WHITESPACE"
        ):
            return self._eval(node.args[1], env), True
        return self._eval(node, env), False

    def _eval(self, node: ast.expr, env: dict) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            raise _Unknown(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
        if isinstance(node, ast.Call):
            return self._eval_call(node, env)
        raise _Unknown(ast.dump(node))

    def _eval_call(self, node: ast.Call, env: dict) -> object:
        func = node.func
        attr = getattr(func, "attr", None)
        args = [self._eval(a, env) for a in node.args]
        calls: dict[str | None, Callable[[], object]] = {
            "extract_from_plain": lambda: _Extracted(args[0], html=False),
            "extract_from_html": lambda: _Extracted(args[0], html=True),
            "html_to_text": lambda: _Extracted(args[0].body, html=True, as_text=True),
            "text_type": lambda: args[0],
        }
        if attr in calls and args and isinstance(args[0], (str, _Extracted)):
            return calls[attr]()
        if getattr(func, "id", None) == "open" and args and isinstance(args[0], str):
            return _File(self.repo / args[0])
        if isinstance(func, ast.Attribute):
            target = self._eval(func.value, env)
            if isinstance(target, _File) and attr == "read":
                return target.path.read_text(encoding="utf-8")
            if isinstance(target, str) and attr in ("format", "replace") and all(isinstance(a, str) for a in args):
                return getattr(target, attr)(*args)
        raise _Unknown(ast.dump(node))


def _talon(repo: Path) -> Iterator[Case]:
    return _Talon(repo).cases()


# --------------------------------------------------------------------------- scoring


def score(cases: list[Case]) -> tuple[int, list[tuple[Case, str]]]:
    from dunning.replies.mail import parse_inbound

    misses = []
    for case in cases:
        got = parse_inbound(case.raw()).reply_text
        if not matches(case, got):
            misses.append((case, got))
    return len(cases) - len(misses), misses


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    paths = [a for a in argv if a != "-v"]
    root = Path(paths[0] if paths else os.environ.get(ENV, ""))
    if not str(root) or not root.is_dir():
        print(f"usage: python -m tests.replies.peers DIR [-v]  (or set {ENV})", file=sys.stderr)
        return 2
    cases = load(root)
    matched, misses = score(cases)
    if verbose:
        for case, got in misses:
            print(
                f"--- {case.name}\nexpected: {normalise(expected_text(case), case.no_whitespace)!r}\n"
                f"     got: {normalise(got, case.no_whitespace)!r}"
            )
    by_repo: dict[str, list[int]] = {}
    missed = {c.name for c, _ in misses}
    for case in cases:
        counts = by_repo.setdefault(case.name.split(":")[0], [0, 0])
        counts[0] += case.name not in missed
        counts[1] += 1
    print("; ".join(f"{repo} {n} of {m}" for repo, (n, m) in by_repo.items()))
    print(f"peer fixtures: {matched} of {len(cases)} match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
