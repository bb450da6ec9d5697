"""Every template the default policy names exists, in every language we write, for every channel
its step uses: a missing one would only show up when a case reaches that step."""

from __future__ import annotations

import pytest

from dunning.channels.render import (
    TEMPLATES_DIR,
    render_email,
    render_letter_html,
    render_sms,
    sample_for,
)
from dunning.languages import supported
from dunning.policies.document import load_default_policy

LANGUAGES = supported()
# The files one template is made of, per channel. An agency hand-off travels with the letter
# of the same name (the composer renders it to the PDF in the case file).
FILES = {
    "email": ("emails", (".subject.txt", ".txt", ".html")),
    "sms": ("sms", (".txt",)),
    "letter": ("letters", (".html",)),
    "agency": ("letters", (".html",)),
}
RENDER = {"email": render_email, "sms": render_sms, "letter": render_letter_html, "agency": render_letter_html}


def needed() -> list[tuple[str, str, str]]:
    """(path.step, channel, template) for every message the default policy can plan."""
    out = set()
    for path_name, path in load_default_policy().paths.items():
        for step in path.steps:
            channels = [c for c in step.channels if c != "task"]  # a task is work for the team, not a message
            if step.kind == "agency_handoff":
                channels.append("agency")
            out.update((f"{path_name}.{step.key}", channel, step.template) for channel in channels)
    return sorted(out)


def test_the_default_policy_names_templates_at_all():
    found = {(channel, template) for _, channel, template in needed()}
    assert ("email", "pre_due_nudge") in found
    assert ("agency", "agency_handoff") in found and ("letter", "registered_letter") in found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("step", "channel", "template"), needed())
def test_each_template_exists_and_renders(step, channel, template, language):
    folder, suffixes = FILES[channel]
    for suffix in suffixes:
        path = TEMPLATES_DIR / folder / language / f"{template}{suffix}"
        assert path.is_file(), f"{step} needs {path.relative_to(TEMPLATES_DIR)}"
    for kind in ("business", "consumer"):
        assert RENDER[channel](template, sample_for(template, language, kind=kind))
