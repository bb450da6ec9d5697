"""Reply text against the cases three reply parsers publish (read by tests/replies/peers.py from
their own repositories: nothing of theirs is in this project).

Set DUNNING_PEER_FIXTURES_DIR to a directory holding clones of github/email_reply_parser,
zapier/email-reply-parser and mailgun/talon; without it the test is skipped.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from tests.replies.peers import ENV, load, score

# Issue 12 asks for 105 of the 114 cases it counted; the same share of the cases read here.
REQUIRED_SHARE = 105 / 114


def test_reply_text_matches_the_peers_published_cases(capsys):
    root = os.environ.get(ENV)
    if not root:
        pytest.skip(
            f"{ENV} is not set: clone github/email_reply_parser, zapier/email-reply-parser and "
            "mailgun/talon into one directory and point it there"
        )
    cases = load(Path(root))
    assert len(cases) >= 100, f"only {len(cases)} cases read: has a peer's test layout changed?"
    matched, misses = score(cases)
    with capsys.disabled():
        print(f"\npeer fixtures: {matched} of {len(cases)} match")
    missed = ", ".join(case.name for case, _ in misses)
    assert matched >= math.ceil(REQUIRED_SHARE * len(cases)), f"missed: {missed}"
