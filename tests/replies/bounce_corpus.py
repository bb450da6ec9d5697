"""The bounce reader on real bounces: sisimai's collection, read from its own repositories at run time.

sisimai/set-of-emails holds several hundred delivery failures as real servers wrote them (one file
per sample, `maildir/bsd/<format>-NN.eml`), and sisimai/rb-sisimai's tests say, per sample, the
reason each recipient failed (`test/public/<format>.rb`: `'NN' => [['5.1.1', '550', 'userunknown',
true]]`). Nothing of theirs is copied into this project: DUNNING_BOUNCE_FIXTURES_DIR names a
directory holding the two repositories as cloned (`set-of-emails/`, `rb-sisimai/`).

Figures: how many samples are recognised as bounces; of the samples whose address does not exist
(sisimai's userunknown, hostunknown, hasmoved, suspend), how many we mark invalid by ourselves,
and of the others how many we would wrongly mark invalid.

    python -m tests.replies.bounce_corpus [DIR]
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ENV = "DUNNING_BOUNCE_FIXTURES_DIR"
ADDRESS_REASONS = {"userunknown", "hostunknown", "hasmoved", "suspend"}
NOT_BOUNCES = ("arf-", "rfc3834-")  # abuse reports and automatic replies live in the same folder


@dataclass
class Figures:
    samples: int
    recognised: int
    labelled_address: int
    address_marked: int
    address_to_person: int
    labelled_other: int
    other_marked: int

    def lines(self) -> list[str]:
        return [
            f"bounces recognised: {self.recognised} of {self.samples}",
            f"address does not exist: {self.address_marked} of {self.labelled_address} marked invalid, "
            f"{self.address_to_person} to a person",
            f"other failures marked invalid: {self.other_marked} of {self.labelled_other}",
        ]


def expected_reasons(root: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted((root / "rb-sisimai" / "test" / "public").glob("*.rb")):
        source = path.read_text(encoding="utf-8", errors="replace")
        for index, rows in re.findall(r"'(\d+)'\s*=>\s*\[(.*?)\]\s*,?\s*(?:#.*)?\n", source):
            reasons = set(re.findall(r"\[\s*'[^']*',\s*'[^']*',\s*'([^']*)',\s*(?:true|false)\s*\]", rows))
            if reasons:
                out[f"{path.stem}-{index}"] = reasons
    return out


def measure(root: Path) -> Figures:
    from dunning.replies.bounces import ADDRESS, REFUSED
    from dunning.replies.mail import parse_inbound

    folder = root / "set-of-emails" / "maildir" / "bsd"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing (clone sisimai/set-of-emails and sisimai/rb-sisimai into {root})")
    reasons = expected_reasons(root)
    count: Counter[str] = Counter()
    for path in sorted(folder.glob("*.eml")):
        if path.name.startswith(NOT_BOUNCES):
            continue
        mail = parse_inbound(path.read_bytes())
        kinds = {f.kind for f in mail.bounce.failures} if mail.bounce else set()
        count["samples"] += 1
        count["recognised"] += mail.is_bounce
        expected = reasons.get(path.stem)
        if not expected:
            continue
        group = "address" if expected <= ADDRESS_REASONS else "other"
        count[f"labelled_{group}"] += 1
        count[f"{group}_marked"] += ADDRESS in kinds
        count[f"{group}_to_person"] += REFUSED in kinds and ADDRESS not in kinds
    return Figures(
        count["samples"],
        count["recognised"],
        count["labelled_address"],
        count["address_marked"],
        count["address_to_person"],
        count["labelled_other"],
        count["other_marked"],
    )


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else os.environ.get(ENV, ""))
    if not str(root) or not root.is_dir():
        print(f"usage: python -m tests.replies.bounce_corpus DIR  (or set {ENV})", file=sys.stderr)
        return 2
    print("\n".join(measure(root).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
