"""`replies read FILE.eml ...`: what the service reads in inbound mail, without a database.

The same path as the inbound webhook up to the point where it would look the sender up: the
message parsed (parse_inbound), the customer's own words classified (intents.classify). One JSON
object per file with --json, so results can be compared across versions or against a labelled set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dunning.cli.base import NowOpt, clock_at, console, fail
from dunning.cli.replies import replies_app


@replies_app.command("read")
def read_command(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE.eml...", help="raw messages, as the inbound provider posts them")
    ],
    lang: Annotated[
        str | None, typer.Option("--lang", metavar="LANG", help="read in this language instead of detecting it")
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", metavar="ZONE", help="the customer's IANA time zone, for relative dates")
    ] = "UTC",
    currency: Annotated[str | None, typer.Option("--currency", metavar="CODE", help="the case's currency")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line per file")] = False,
    now: NowOpt = None,
) -> None:
    """Show what the service reads in raw emails.

    For each message: the reply text, its language and intent, or that it is a bounce or an
    automatic reply."""
    from dunning.replies.intents import LexiconError

    failed = False
    for path in files:
        try:
            result = read_file(path, lang=lang, tz=tz, currency=currency, now=now)
        except LexiconError as e:
            fail(str(e))
        failed |= "error" in result
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            _show(result)
    if failed:
        raise typer.Exit(1)


def read_file(path: Path, *, lang: str | None, tz: str, currency: str | None, now: str | None) -> dict[str, Any]:
    from dunning.replies.mail import parse_inbound

    try:
        raw = path.read_bytes()
    except OSError as e:
        return {"file": str(path), "error": f"cannot read: {e.strerror or e}"}
    mail = parse_inbound(raw)
    out: dict[str, Any] = {
        "file": str(path),
        "from": mail.from_address,
        "subject": mail.subject,
        "reply_text": mail.reply_text,
        "own_text": mail.own_text,
        "forwarded": mail.forwarded,
        "language_hints": list(mail.language_hints),
        "is_bounce": mail.is_bounce,
        "is_autoreply": mail.is_autoreply,
        "return_text": mail.return_text,
        "unreadable": mail.unreadable,
        "bounce": [
            {"recipient": f.recipient, "kind": f.kind, "status": f.status, "diagnostic": f.diagnostic}
            for f in mail.bounce.failures
        ]
        if mail.bounce
        else None,
    }
    reading = dict(
        language=None,
        intent=None,
        confidence=None,
        confident=False,
        promised_date=None,
        amount=None,
        currency=None,
        invoice_number=None,
        return_on=None,
    )
    if not mail.is_bounce:  # a bounce is not read as words of the customer
        reading.update(_classify(mail, lang=lang, tz=tz, currency=currency, now=now))
    return {**out, **reading}


def _classify(mail, *, lang: str | None, tz: str, currency: str | None, now: str | None) -> dict[str, Any]:
    from dunning.replies.intents import classify, out_of_office
    from dunning.replies.language import read_reply

    received_at = clock_at(now).now() if now or mail.date is None or mail.date.tzinfo is None else mail.date
    text = mail.own_text
    # The same reading as the inbound webhook: the reply's own language unless --lang says otherwise.
    if lang:
        language, u = (
            lang,
            classify(text, lang=lang, received_at=received_at, tz=tz, channel="email", currency=currency),
        )
    else:
        language, u = read_reply(
            text,
            customer_language=next(iter(mail.language_hints), None),
            received_at=received_at,
            tz=tz,
            channel="email",
            currency=currency,
        )
    u = out_of_office(mail.is_autoreply, mail.return_text or text, lang=language, received_at=received_at, tz=tz) or u
    data = u.to_dict()
    return {
        "language": language,
        "intent": data["intent"],
        "confidence": data["confidence"],
        "confident": data["confident"],
        "promised_date": data["promised_date"],
        "amount": data["amount"],
        "currency": data["currency"],
        "invoice_number": data["invoice_number"],
        "return_on": data["return_on"],
    }


def _show(result: dict[str, Any]) -> None:
    console.print(f"[bold]{result['file']}[/bold]")
    if "error" in result:
        console.print(f"  [red]{result['error']}[/red]")
        return
    if result["is_bounce"]:
        for f in result["bounce"]:
            console.print(f"  bounce: {f['recipient']} {f['kind']} {f['status'] or ''}")
        return
    if result["is_autoreply"]:
        console.print(f"  automatic reply; back: {result['return_text'] or '(no date given)'}")
    sure = "acts on it" if result["confident"] else "a person decides"
    console.print(f"  {result['intent']} ({result['confidence']:.2f}, {sure}), language {result['language']}")
    for name in ("promised_date", "amount", "invoice_number"):
        if result[name] is not None:
            console.print(f"  {name.replace('_', ' ')}: {result[name]}")
    console.print("  " + (result["reply_text"] or "(no text)").replace("\n", "\n  "))
