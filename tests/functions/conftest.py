"""Every function through its real functions-framework binding, on a throwaway platform:
a SQLite file, the in-process cache and a moto endpoint in a thread, provisioned as in `make up`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto.server import ThreadedMotoServer

from schemas.api import PaymentRequest, SignUpRequest
from shared.functions import load_app
from shared.provision import provision
from shared.runner.local import free_port
from shared.services.context import EventContext
from shared.services.identity import sign_up
from shared.services.payments import create_payment
from tests.fixtures.platform import throwaway_platform


@pytest.fixture(scope="session")
def moto_endpoint_in_process() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    provision(endpoint_url=endpoint)
    yield endpoint
    server.stop()


@pytest.fixture
def runtime(tmp_path, monkeypatch, moto_endpoint_in_process):
    with throwaway_platform(tmp_path, monkeypatch, moto_endpoint_in_process) as built:
        yield built


@pytest.fixture
def client_of(runtime):
    """A werkzeug test client of a function's functions-framework app."""
    return lambda name: load_app(name).test_client()


@pytest.fixture
def requested_payment(runtime):
    """A payment from p@example.com to q@example.com, requested and not yet scored."""
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        payer, _ = sign_up(
            conn,
            SignUpRequest(email="p@example.com", password="long enough pw 1", full_name="P", country="US"),
            ledger=runtime.ledger,
            privacy=runtime.privacy,
            email_index=runtime.email_index,
            now=now,
            correlation_id=None,
        )
        payee, _ = sign_up(
            conn,
            SignUpRequest(email="q@example.com", password="long enough pw 2", full_name="Q", country="US"),
            ledger=runtime.ledger,
            privacy=runtime.privacy,
            email_index=runtime.email_index,
            now=now,
            correlation_id=None,
        )
        payment, _ = create_payment(
            conn,
            payer_id=payer.id,
            request=PaymentRequest(to=payee.id, amount=700, currency="USD", note=""),
            context=EventContext(producer="payments", now=now, correlation_id=None),
        )
    return payment
