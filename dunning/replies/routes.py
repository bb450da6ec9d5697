"""Inbound webhooks. The Twilio ones are authenticated by Twilio's signature (tests/test_auth.py lists
them in SIGNED_ROUTES); the email one by an HMAC signature of the body or by an API key."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from dunning import auth
from dunning.deps import Body, Caller, ClockDep, SessionDep, SettingsDep
from dunning.errors import Forbidden, TooLarge, Unauthenticated
from dunning.inputs import BoundedRoute
from dunning.replies import inbound
from dunning.replies.twilio import FormParams, parse_form, public_url, verify

router = APIRouter(prefix="/v1/inbound", tags=["inbound"], route_class=BoundedRoute)

EMAIL_SCOPE = "ingest"


async def twilio_form(request: Request, settings: SettingsDep) -> FormParams:
    # Checked before anything touches the database: a request Twilio did not sign stores nothing.
    params = parse_form(await request.body())
    verify(settings, public_url(settings, request.url.path, request.url.query), params, request.headers)
    return params


TwilioForm = Annotated[FormParams, Depends(twilio_form)]


def email_caller(body: Body, session: SessionDep, settings: SettingsDep,
                 authorization: Annotated[str | None, Header()] = None,
                 x_dunning_signature: Annotated[str | None, Header()] = None) -> Caller | None:
    """The provider's HMAC signature of the raw body, or an API key with the ingest scope."""
    if len(body) > settings.inbound_email_max_bytes:
        raise TooLarge(f"the message is over {settings.inbound_email_max_bytes} bytes")
    if x_dunning_signature is not None:
        if not inbound.email_signature_ok(settings, body, x_dunning_signature):
            raise Forbidden(f"invalid {inbound.EMAIL_SIGNATURE_HEADER}" if settings.inbound_email_secret
                            else "inbound email signatures are not configured (DUNNING_INBOUND_EMAIL_SECRET)")
        return None
    if authorization is None:
        raise Unauthenticated(f"sign the body ({inbound.EMAIL_SIGNATURE_HEADER}: sha256=<hex>) or send an API key")
    key = auth.authenticate(session, authorization)
    auth.check_scope(key, EMAIL_SCOPE)
    return Caller(key.id, key.name, tuple(key.scopes))


email_caller.required_scope = EMAIL_SCOPE  # what tests/test_auth.py checks when no signature is sent


@router.post("/twilio/sms", response_class=Response,
             responses={200: {"content": {"application/xml": {}}, "description": "TwiML answer"}})
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
@router.post("/email", openapi_extra={"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def inbound_email(body: Body, session: SessionDep, clock: ClockDep, settings: SettingsDep,
                  _caller: Annotated[Caller | None, Depends(email_caller)]) -> dict:
    """A reply by email, as the raw MIME message an inbound-mail provider forwards."""
    return inbound.receive_email(session, clock, settings, body)
