"""The README, run: every ```sh block in order, on a scratch folder, each ```text block after one
checked against what its last command printed. The README cannot drift from the service.

Conventions (README.md, "Development", says the same for writers):
- a ```sh block runs unless the line before its fence is `<!-- readme-test: skip REASON -->`;
- `.venv/bin/python main.py ARGS` runs the command line in this process (what `python main.py`
  runs, without a new interpreter per command); `export`/`unset` change the environment of the
  commands after them, `NAME=value command` of one; `export NAME=$(.venv/bin/python main.py ...)`
  takes what the command printed; anything else (curl, ls, echo) runs in bash, and
  http://127.0.0.1:8000 is a server started for it on a free port, as `make run` would serve;
- a ```text block lists lines of the output in order (others may come between), whitespace and
  table borders aside; `...` stands for any text, `~N` for a number within 10 % of N, `~N±M`
  within M of N (what moves with the day the demo is run).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dunning.app import create_app
from dunning.cli import app as cli
from dunning.config import Settings, get_settings
from tests.datasets import IBM, needs_ibm
from tests.server import serving

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
MAIN = [".venv/bin/python", "main.py"]
SERVED = "http://127.0.0.1:8000"
BORDERS = re.compile("[\u2500-\u257f]")
TOLERANCE = 0.10


@dataclass
class Block:
    line: int  # of the opening fence, for messages
    lang: str
    text: str
    skip: str | None = None


def blocks(markdown: str) -> list[Block]:
    found, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = SKIP.search(before)
        found.append(Block(start + 1, fence.group(1), "\n".join(body), marker.group(1) if marker else None))
        i += 1
    return found


def commands(script: str) -> list[str]:
    """Logical lines, as a shell reads them: backslash continuations joined, a quote left open
    going on over the next line, comments and blank lines dropped."""
    out, pending = [], ""
    for line in re.sub(r"\\\n", " ", script).splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if words:
            out.append(pending)
        pending = ""
    assert not pending, f"an unclosed quote in: {pending}"
    return out


class Shell:
    def __init__(self, cwd: Path, stack: ExitStack):
        self.cwd, self.stack = cwd, stack
        self.env: dict[str, str | None] = {}
        self.base: str | None = None

    def expand(self, word: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.value(m.group(1)), word)

    def value(self, name: str) -> str:
        if name in self.env:
            return self.env[name] or ""
        return os.environ.get(name, "")

    def run(self, line: str) -> str:
        captured = re.fullmatch(r"\s*export (\w+)=\$\((.*?)\)\s*(#.*)?", line)
        if captured:  # export NAME=$(command): what it printed
            self.env[captured.group(1)] = self.main(shlex.split(captured.group(2))).strip()
            return ""
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                self.env[name] = self.expand(value)
            return ""
        if words[0] == "unset":
            for name in words[1:]:
                self.env[name] = None
            return ""
        assignments = {}
        while "=" in words[0] and re.fullmatch(r"\w+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            assignments[name] = self.expand(value)
        if words[:2] == MAIN:
            return self.main(words, assignments)
        assert words[0] != "make", f"`{line}` runs make: mark its block skipped with the reason"
        return self.bash(line)

    def main(self, words: list[str], assignments: dict[str, str] | None = None) -> str:
        assert words[:2] == MAIN, words
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, [self.expand(w) for w in words[2:]], env={**self.env, **(assignments or {})})
        get_settings.cache_clear()
        assert result.exit_code == 0, f"{' '.join(words)} exited {result.exit_code}:\n{result.output}"
        return result.output

    def bash(self, line: str) -> str:
        if SERVED in line:
            line = line.replace(SERVED, self.server())
        env = {k: v for k, v in os.environ.items()}
        env.update({k: v for k, v in self.env.items() if v is not None})
        for name in [k for k, v in self.env.items() if v is None]:
            env.pop(name, None)
        done = subprocess.run(["bash", "-c", line], cwd=self.cwd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def server(self) -> str:
        """The API as `make run` serves it, with the settings of this moment in the README."""
        if self.base is None:
            get_settings.cache_clear()
            with _env(self.env):
                app = create_app(Settings(), embedded_worker=False)
            self.base = self.stack.enter_context(serving(app))
        return self.base


class _env:
    def __init__(self, values: dict[str, str | None]):
        self.values, self.saved = values, {}

    def __enter__(self):
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def flat(text: str) -> str:
    return " ".join(BORDERS.sub(" ", text).split())


NUMBER = r"[0-9]+(?:[.,][0-9]+)*"  # 2421, 0.806, 1,200.00; never the sentence's full stop
APPROXIMATE = re.compile(rf"~({NUMBER})(?:±({NUMBER}))?")


def pattern(line: str) -> tuple[re.Pattern, list[tuple[float, float]]]:
    """A line of expected output as a regular expression; `~N` and `~N±M` become numbers checked
    afterwards, against N and the tolerance (M, or 10 % of N)."""
    parts, approximations, rest, at = [], [], flat(line), 0
    for found in re.finditer(r"\.\.\.|" + APPROXIMATE.pattern, rest):
        parts.append(re.escape(rest[at : found.start()]))
        if found.group(0) == "...":
            parts.append(".*?")
        else:
            shown = float(found.group(1).replace(",", ""))
            approximations.append(
                (shown, float(found.group(2).replace(",", "")) if found.group(2) else TOLERANCE * abs(shown))
            )
            parts.append(f"({NUMBER})")
        at = found.end()
    parts.append(re.escape(rest[at:]))
    return re.compile("".join(parts)), approximations


def check(expected: str, output: str, where: str) -> None:
    got, position = flat(output), 0
    for line in filter(str.strip, expected.splitlines()):
        regex, approximations = pattern(line)
        match = regex.search(got, position)
        assert match, f"README line {where}: `{line.strip()}` is not in what the command printed:\n{output}"
        for value, (shown, tolerance) in zip(match.groups(), approximations):
            number = float(value.replace(",", ""))
            assert abs(number - shown) <= tolerance + 1e-9, (
                f"README line {where}: {number} is not within {tolerance:g} of ~{shown:g} in `{line.strip()}`"
            )
        position = match.end()


@needs_ibm  # the walkthrough imports it
def test_the_readme_walkthrough_and_every_command_in_it(tmp_path, monkeypatch):
    clone = tmp_path / "clone"  # the README's commands run from the repository's folder
    clone.mkdir()
    (tmp_path / "shared").symlink_to(IBM.parent.parent, target_is_directory=True)  # ../shared/datasets/
    for name in [k for k in os.environ if k.startswith("DUNNING_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(clone / "var"))
    monkeypatch.chdir(clone)

    found = blocks(README.read_text())
    ran = 0
    with ExitStack() as stack:
        shell = Shell(clone, stack)
        last = None
        for block in found:
            if block.lang == "sh":
                last = None
                if block.skip is not None:
                    assert block.skip, f"README line {block.line}: a skipped block says why"
                    continue
                for line in commands(block.text):
                    last = shell.run(line)
                    ran += 1
            elif block.lang == "text":
                assert last is not None, f"README line {block.line}: a text block follows a block that ran"
                check(block.text, last, str(block.line))
                last = None
    assert ran >= 40  # the README is exercised, not skipped


def test_the_conventions_read_markers_outputs_and_approximations():
    readme = (
        "<!-- readme-test: skip starts a server -->\n```sh\nmake run\n```\n```sh\necho 1 # one\n```\n```text\n1\n```\n"
    )
    skipped, ran, shown = blocks(readme)
    assert (skipped.skip, ran.skip, shown.lang) == ("starts a server", None, "text")
    assert commands("a \\\n  b # c\n# only a comment\n\nd 'e\nf'") == ["a    b # c", "d 'e\nf'"]
    check(
        "model: xgb-... AUC ~0.806 against ~0.746\n┃ a ┃ b ┃",
        "model: xgb-1 promoted: AUC 0.79 against 0.75\n│ a │ b │",
        "t",
    )
    check("~55±10 message(s), (~241 open)", "63 message(s), (255 open)", "t")
    with pytest.raises(AssertionError, match="is not within 0.0806 of ~0.806"):
        check("AUC ~0.806", "AUC 0.70", "t")
    with pytest.raises(AssertionError, match="is not within 10 of ~55"):
        check("~55±10 message(s)", "66 message(s)", "t")
    with pytest.raises(AssertionError, match="is not in what the command printed"):
        check("second\nfirst", "first second", "t")  # in order
