from __future__ import annotations

import pytest

from tests.conftest import make_client
from tests.fakes.twilio_api import FakeTwilio
from tests.replies.support import SID, TOKEN, twilio_settings


@pytest.fixture
def twilio():
    with FakeTwilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(settings, twilio):
    """SMS through the real twilio library against the local fake; webhooks signed for PUBLIC_URL."""
    return twilio_settings(settings, twilio.url)


@pytest.fixture
def anonymous(app, client):
    """What Twilio and the inbound-mail provider use: no API key (`client` has run the start-up)."""
    with make_client(app, None) as c:
        yield c
