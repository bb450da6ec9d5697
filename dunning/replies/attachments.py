"""Attachments of inbound mail (remittance advice, proofs of payment), kept under
var_dir/inbound/<inbound id>/ for the person who handles the reply."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from dunning.replies.mail import Attachment


def safe_name(name: str | None, index: int, content_type: str) -> str:
    # Only the last path component, in a conservative alphabet: the name is the sender's to choose.
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")[:120]
    if not base:
        base = "attachment" + (mimetypes.guess_extension(content_type) or ".bin")
    return f"{index}-{base}"


def keep(var_dir: Path, inbound_id: int, attachments: list[Attachment]) -> list[dict[str, Any]]:
    # Written before the request commits: a rolled-back request leaves an orphan folder behind,
    # never a stored reply pointing at a file that is not there.
    folder = var_dir / "inbound" / str(inbound_id)
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for index, attachment in enumerate(attachments, start=1):
        path = folder / safe_name(attachment.filename, index, attachment.content_type)
        path.write_bytes(attachment.content)
        kept.append(
            {
                "filename": attachment.filename or path.name,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "path": str(path),
            }
        )
    return kept
