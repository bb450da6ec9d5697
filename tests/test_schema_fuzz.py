"""A bounded schemathesis run over the app's own OpenAPI document: no generated request gets a 5xx.

The operations are walked by hand rather than with schemathesis' pytest plugin, which does not
run under this pytest version; the generation and the calls are schemathesis' own.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import new_key

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_gets_a_server_error(app, db, clock):
    headers = {"Authorization": f"Bearer {new_key(db, clock, ['admin'])}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures = []
    for operation in operations:

        @given(operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def exercise(case):
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.body, response.text))

        exercise()
    assert not failures, failures
