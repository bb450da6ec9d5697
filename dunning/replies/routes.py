"""Inbound webhooks. The Twilio ones are authenticated by Twilio's signature (tests/test_auth.py lists
them in SIGNED_ROUTES); the email one by an HMAC signature of the body or by an API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from dunning.deps import Caller, ClockDep, SessionDep, SettingsDep, authorised
from dunning.errors import Forbidden, Unauthenticated
from dunning.inputs import BoundedRoute
from dunning.replies import inbound
from dunning.replies.twilio import FormParams, parse_form, public_url, signing_secret, verify

router = APIRouter(prefix="/v1/inbound", tags=["inbound"], route_class=BoundedRoute)

EMAIL_SCOPE = "ingest"


async def twilio_form(request: Request, settings: SettingsDep) -> FormParams:
    # Checked before anything touches the database: a request Twilio did not sign stores nothing.
    # Whether it can be signed at all is known from the headers, before the body is read.
    secret = signing_secret(settings, request.headers)
    params = parse_form(await request.body())  # at most the webhooks' body limit (dunning/guards.py)
    verify(secret, public_url(settings, request.url.path, request.url.query), params, request.headers)
    return params


TwilioForm = Annotated[FormParams, Depends(twilio_form)]


def email_caller(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    x_dunning_signature: Annotated[str | None, Header()] = None,
) -> Caller | None:
    """The provider's HMAC signature of the raw body, or an API key with the ingest scope. What the
    headers alone can settle is settled before the body is read: a wrong key costs no upload."""
    if x_dunning_signature is not None:
        if not settings.inbound_email_secret:
            raise Forbidden("inbound email signatures are not configured (DUNNING_INBOUND_EMAIL_SECRET)")
        return None  # the signature is checked against the body (email_body)
    if authorization is None:
        raise Unauthenticated(f"sign the body ({inbound.EMAIL_SIGNATURE_HEADER}: sha256=<hex>) or send an API key")
    return authorised(request, authorization, EMAIL_SCOPE)


email_caller.required_scope = EMAIL_SCOPE  # what tests/test_auth.py checks when no signature is sent
EmailCaller = Annotated[Caller | None, Depends(email_caller)]


async def email_body(
    request: Request,
    settings: SettingsDep,
    caller: EmailCaller,
    x_dunning_signature: Annotated[str | None, Header()] = None,
) -> bytes:
    body = await request.body()  # at most DUNNING_INBOUND_EMAIL_MAX_BYTES (dunning/guards.py)
    if caller is None and not inbound.email_signature_ok(settings, body, x_dunning_signature):
        raise Forbidden(f"invalid {inbound.EMAIL_SIGNATURE_HEADER}")
    return body


@router.post(
    "/twilio/sms",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "TwiML answer"}},
)
def twilio_sms(form: TwilioForm, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Response:
    """Twilio's incoming-message webhook: the reply is read and acted on, the answer is TwiML."""
    return Response(inbound.receive_sms(session, clock, settings, form), media_type="application/xml")


@router.post("/twilio/status", status_code=204, response_class=Response)
def twilio_status(form: TwilioForm, session: SessionDep, clock: ClockDep) -> Response:
    """Twilio's delivery report for a message we sent (an unknown SID is acknowledged and ignored)."""
    inbound.delivery_report(session, clock, form)
    return Response(status_code=204)


# Documented as octet-stream (what generic clients and fuzzers can send); the body is read as raw
# bytes whatever its declared type, so message/rfc822 is accepted the same.
@router.post(
    "/email",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def inbound_email(
    _caller: EmailCaller,
    body: Annotated[bytes, Depends(email_body)],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict:
    """A reply by email, as the raw MIME message an inbound-mail provider forwards."""
    return inbound.receive_email(session, clock, settings, body)
