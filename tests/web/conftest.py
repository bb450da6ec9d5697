from __future__ import annotations

import pytest

from dunning.policies import service as policy_service


@pytest.fixture
def app(app, db, clock):
    # what the app's start-up does; the web tests' clients are not run as context managers
    with db.session() as session:
        policy_service.ensure_default(session, clock)
    return app
