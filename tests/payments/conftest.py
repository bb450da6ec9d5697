from __future__ import annotations

import pytest

from dunning.policies import service as policy_service
from tests.fakes.stripe_api import FakeStripe
from tests.payments.support import SECRET_KEY, WEBHOOK_SECRET


@pytest.fixture
def fake_stripe():
    with FakeStripe(SECRET_KEY) as server:
        yield server


@pytest.fixture
def settings(settings, fake_stripe):
    return settings.model_copy(
        update={
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": fake_stripe.url,
        }
    )


@pytest.fixture
def app(app, db, clock):
    # what the app's start-up does; these clients are not run as context managers
    with db.session() as session:
        policy_service.ensure_default(session, clock)
    return app
