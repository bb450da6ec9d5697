"""File transports: the embedded default when no provider is configured.

Everything lands under outbox_dir, so a new user sees exactly what would have gone out:
  email/<message_id>.eml              the same bytes the SMTP transport would send
  sms.jsonl                           one JSON object per message
  letters/<message_id>.pdf + .json    the letter and its manifest
  agency/<message_id>.json (+ .pdf)   the case file document the webhook would receive
Names come from the message id, so a retry overwrites instead of adding a second copy; for the
SMS log, where that is not possible, a message id already in the file is not written again.
Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dunning.channels.agency import case_file_document
from dunning.channels.contract import Envelope, ProviderReceipt
from dunning.channels.email import MailIdentity, addressed_to, check_address, compose_bytes
from dunning.channels.gsm import count_segments


def write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8") + b"\n"


class FileEmailTransport:
    channel = "email"

    def __init__(self, directory: Path, identity: MailIdentity):
        self.directory = directory
        self._identity = identity

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        for address in (*addressed_to(envelope), *envelope.cc):
            check_address(address)
        msg = compose_bytes(envelope, self._identity)
        path = write_atomic(self.directory / f"{envelope.message_id}.eml", msg.data)
        return ProviderReceipt(provider_id=msg.message_id, detail={"path": str(path)})

    async def close(self) -> None:
        return None


class FileSmsTransport:
    channel = "sms"

    def __init__(self, path: Path):
        self.path = path
        self._written: set[int] | None = None

    def _already_written(self) -> set[int]:
        # Read the log once per process, then remember: each send stays O(1) however long the log.
        if self._written is None:
            self._written = set()
            if self.path.is_file():
                with self.path.open(encoding="utf-8") as log:
                    for line in log:
                        try:
                            self._written.add(int(json.loads(line)["message_id"]))
                        except (ValueError, KeyError, TypeError):
                            continue  # a torn last line from a crash; the message will be rewritten
        return self._written

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        segments = count_segments(envelope.text)
        receipt = ProviderReceipt(
            provider_id=f"file-sms-{envelope.message_id}",
            detail={"path": str(self.path), "segments": segments.segments, "encoding": segments.encoding},
        )
        written = self._already_written()
        if envelope.message_id in written:
            return receipt
        record = {
            "message_id": envelope.message_id,
            "to": envelope.recipient,
            "body": envelope.text,
            "segments": segments.segments,
            "encoding": segments.encoding,
            "metadata": envelope.metadata,
            "written_at": datetime.now(UTC).isoformat(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        written.add(envelope.message_id)
        return receipt

    async def close(self) -> None:
        return None


class FileDropLetterProvider:
    def __init__(self, directory: Path):
        self.directory = directory

    async def submit(self, pdf_path: Path, manifest: dict[str, Any]) -> ProviderReceipt:
        stem = str(manifest["message_id"])
        target = self.directory / f"{stem}.pdf"
        if pdf_path.resolve() != target.resolve():
            write_atomic(target, pdf_path.read_bytes())
        manifest_path = write_atomic(self.directory / f"{stem}.json", _json_bytes(manifest))
        return ProviderReceipt(
            provider_id=f"file-letter-{stem}",
            detail={
                "pdf": str(target),
                "manifest": str(manifest_path),
                "pages": manifest.get("pages"),
                "registered": manifest.get("registered"),
            },
        )

    async def close(self) -> None:
        return None


class FileAgencyTransport:
    channel = "agency"

    def __init__(self, directory: Path):
        self.directory = directory

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        stem = str(envelope.message_id)
        document = case_file_document(envelope)
        detail: dict[str, Any] = {}
        if envelope.pdf_path is not None:
            # Beside the JSON as a file too, so a person can open it without decoding base64.
            detail["pdf"] = str(write_atomic(self.directory / f"{stem}.pdf", envelope.pdf_path.read_bytes()))
        detail["case_file"] = str(write_atomic(self.directory / f"{stem}.json", _json_bytes(document)))
        return ProviderReceipt(provider_id=f"file-agency-{stem}", detail=detail)

    async def close(self) -> None:
        return None
