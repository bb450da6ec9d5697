"""The bounce reader on sisimai's collection of real bounces (read by tests/replies/bounce_corpus.py
from sisimai's own repositories). Set DUNNING_BOUNCE_FIXTURES_DIR to a directory holding clones of
sisimai/set-of-emails and sisimai/rb-sisimai; without it the test is skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.replies.bounce_corpus import ENV, measure


def test_real_bounces(capsys):
    root = os.environ.get(ENV)
    if not root:
        pytest.skip(f"{ENV} is not set: clone sisimai/set-of-emails and sisimai/rb-sisimai into one directory")
    figures = measure(Path(root))
    with capsys.disabled():
        print("\n" + "\n".join(figures.lines()))
    assert figures.samples >= 500 and figures.labelled_address >= 100, "has the collection's layout changed?"
    assert figures.recognised >= 0.9 * figures.samples
    # Marking a good address invalid is the costly mistake: rare, and most of it where the server
    # itself said "user unknown" in a refusal sisimai files under another reason.
    assert figures.other_marked <= 0.12 * figures.labelled_other
    assert figures.address_marked >= 0.65 * figures.labelled_address
