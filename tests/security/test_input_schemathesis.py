"""A short, seeded schemathesis run against the OpenAPI document the platform serves, through the
local gateway in front of every client function's real binding: no operation answers a 5xx, and
no answer breaks the document. The stateful phase follows the document's links, so operations on
a payment, a refund or a request are reached with ids that exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from werkzeug.test import Client

from shared.bootstrap import platform
from shared.functions import FUNCTIONS, load_app
from shared.runner.gateway import Gateway, InProcessBackends
from tests.fixtures.ledger import fund
from tests.fixtures.platform import throwaway_platform

PASSWORD = "plum-Harbour-7-lantern"
# Small and derandomised (hypothesis derives its seed from each test): the same cases every run,
# about a minute in all.
EXAMPLES_PER_OPERATION = 4
STATEFUL_STEPS = 12
STATEFUL_EXAMPLES = 6
CHECKS = [not_a_server_error, response_schema_conformance]
SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, moto_endpoint_in_process):
    home = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch, throwaway_platform(home, patch, moto_endpoint_in_process):
        yield Gateway(InProcessBackends({info.name: load_app(info.name) for info in FUNCTIONS if info.serves_clients}))


@pytest.fixture(scope="module")
def auth(gateway) -> dict[str, str]:
    """A funded user's bearer token: the fuzzer calls every operation as this user."""
    client = Client(gateway)
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    signed_up = client.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Fuzz Example", "country": "US"}
    )
    assert signed_up.status_code == 201, signed_up.get_data(as_text=True)
    runtime, now = platform(), datetime.now(UTC)
    with runtime.engine.begin() as conn:
        fund(conn, runtime.ledger, signed_up.get_json()["id"], 1_000_000, now)
    token = client.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    assert token.status_code == 200, token.get_data(as_text=True)
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


@pytest.fixture(scope="module")
def schema(gateway):
    return schemathesis.openapi.from_wsgi("/openapi.json", gateway)


def test_no_operation_answers_a_5xx_or_breaks_the_document(schema, auth):
    failures: list[str] = []
    answered: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every declared route is in the served document
    for operation in operations:

        @SETTINGS
        @given(case=operation.as_strategy())
        def exercise(case) -> None:
            answered.append(case.call_and_validate(headers=auth, checks=CHECKS).status_code)

        try:
            exercise()
        except Exception as failure:  # noqa: BLE001 - collected, so that one run names them all
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
    # Every operation was called, and some calls were valid enough to succeed.
    assert len(answered) >= len(operations) and any(200 <= status < 300 for status in answered)


def test_the_stateful_phase_follows_links_without_a_5xx(schema, auth):
    workflow = schema.as_state_machine()
    followed: list[str] = []

    class Workflow(workflow):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            followed.append(case.operation.label)
            return {"headers": auth}

        def validate_response(self, response, case, additional_checks=(), **kwargs):
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        Workflow,
        settings=settings(SETTINGS, max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS),
    )
    # The links led from a creation to the operations on what it created.
    assert any("{" in label for label in followed), followed
