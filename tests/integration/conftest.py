"""Integration fixtures for the AWS side of the event path.

`moto_endpoint` starts one real `moto_server` subprocess per test session on a free port and
yields its URL. If it cannot start, the tests that need it fail (they never skip): an
integration test that silently does not run proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared import topology
from shared.adapters.aws import EventPublisher, aws_client
from shared.provision import ProvisionedTopology, provision
from tests.throwaway import MotoServer

MOTO_STOP_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real moto server subprocess, started once for the session."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto_server.log")
    try:
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fresh_moto(moto_endpoint: str) -> str:
    """The moto endpoint with every resource of previous tests removed."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=MOTO_STOP_TIMEOUT_SECONDS).raise_for_status()
    return moto_endpoint


# The provisioned topology on a fresh moto server, and clients of it (a test module may define
# its own `sqs`, as test_dead_letters does).
@pytest.fixture
def provisioned(fresh_moto: str) -> ProvisionedTopology:
    return provision(endpoint_url=fresh_moto)


@pytest.fixture
def sqs(fresh_moto: str) -> Any:
    return aws_client("sqs", endpoint_url=fresh_moto)


@pytest.fixture
def publisher(fresh_moto: str) -> EventPublisher:
    return EventPublisher(aws_client("events", endpoint_url=fresh_moto), topology.BUS_NAME)
