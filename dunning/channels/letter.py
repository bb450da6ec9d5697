"""Letters: a PDF and a manifest handed to a print-and-mail provider.

What the outbox fills in the Envelope:
  recipient  the postal address block, one line per line, name first (at least two lines)
  pdf_path   the rendered letter (render.render_letter_pdf); or, when absent,
  html       the rendered letter HTML, turned into a PDF here under outbox_dir/letters/
  metadata   "registered": bool (registered post with proof of delivery), "reference",
             "case_id", "customer_external_id": copied into the manifest
  payload    extra manifest fields for a particular provider (colour, envelope type ...)

A LetterProvider is the seam to a printing house. Each has its own API; an adapter turns the
manifest into theirs, and its receipt's provider_id is the provider's tracking id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx

from dunning.channels.agency import http_failure, provider_reference
from dunning.channels.contract import Envelope, ProviderReceipt, TransportError


class LetterProvider(Protocol):
    async def submit(self, pdf_path: Path, manifest: dict[str, Any]) -> ProviderReceipt:
        """Hand over one letter. manifest: message_id, recipient {name, lines}, registered,
        pages, reference, case_id, customer_external_id, plus envelope.payload. Raises
        TransportError like a transport; must tolerate the same message_id twice."""
        ...

    async def close(self) -> None: ...


def page_count(pdf_path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf_path).pages)


class LetterTransport:
    channel = "letter"

    def __init__(self, provider: LetterProvider, work_dir: Path):
        self.provider = provider
        self._work_dir = work_dir

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        lines = [line.strip() for line in envelope.recipient.splitlines() if line.strip()]
        if len(lines) < 2:
            raise TransportError(
                "a letter needs a name and at least one address line",
                permanent=True,
                code="invalid_address",
                recipient=True,
            )
        pdf = envelope.pdf_path
        if pdf is None:
            if not envelope.html:
                raise TransportError("letter has neither a PDF nor HTML", permanent=True, code="no_content")
            from dunning.channels.render import html_to_pdf

            pdf = self._work_dir / f"{envelope.message_id}.pdf"
            await anyio.to_thread.run_sync(html_to_pdf, envelope.html, pdf)
        if not pdf.is_file():
            raise TransportError(f"letter PDF missing: {pdf}", permanent=True, code="no_content")
        manifest = {
            "message_id": envelope.message_id,
            "recipient": {"name": lines[0], "lines": lines},
            "registered": bool(envelope.metadata.get("registered", False)),
            "pages": await anyio.to_thread.run_sync(page_count, pdf),
            "reference": envelope.metadata.get("reference"),
            "case_id": envelope.metadata.get("case_id"),
            "customer_external_id": envelope.metadata.get("customer_external_id"),
            **envelope.payload,
        }
        return await self.provider.submit(pdf, manifest)

    async def close(self) -> None:
        await self.provider.close()


class HttpLetterProvider:
    """A generic adapter: multipart POST of `file` (the PDF) and `manifest` (JSON) to
    DUNNING_LETTER_PROVIDER_URL, expecting a JSON answer with "id". A specific printing house
    gets its own class with the same two methods."""

    def __init__(self, url: str, *, timeout: float = 30.0, client: httpx.AsyncClient | None = None):
        self._url = url
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def submit(self, pdf_path: Path, manifest: dict[str, Any]) -> ProviderReceipt:
        try:
            response = await self._client.post(
                self._url,
                files={"file": (pdf_path.name, pdf_path.read_bytes(), "application/pdf")},
                data={"manifest": json.dumps(manifest, default=str)},
                headers={"Idempotency-Key": f"dunning-message-{manifest['message_id']}"},
            )
        except httpx.HTTPError as exc:
            raise http_failure("letter provider", exc=exc) from exc
        if not response.is_success:
            raise http_failure("letter provider", response)
        return ProviderReceipt(
            provider_id=provider_reference(response, f"letter-{manifest['message_id']}"),
            detail={"status": response.status_code, "pages": manifest["pages"], "registered": manifest["registered"]},
        )

    async def close(self) -> None:
        await self._client.aclose()
