"""The moto fix answers exactly what moto would, only without scanning the queue."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import sqs_backends

from shared.runner.moto_endpoint import CHEAP_ATTRIBUTES, install

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fifo", [True, False])
def test_the_cheap_attributes_equal_what_moto_computes_in_full(fifo, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        name = "probe.fifo" if fifo else "probe"
        sqs.create_queue(QueueName=name, Attributes={**attributes, "MessageRetentionPeriod": "600"})
        backend = sqs_backends["123456789012"]["us-east-1"]
        full = backend.get_queue_attributes(name, ["All"])
        install()
        for attribute in CHEAP_ATTRIBUTES:
            assert backend.get_queue_attributes(name, [attribute]) == (
                {attribute: full[attribute]} if attribute in full else {}
            )
        assert backend.get_queue_attributes(name, list(CHEAP_ATTRIBUTES)) == {
            a: full[a] for a in CHEAP_ATTRIBUTES if a in full
        }
        # Anything else still goes through moto's own code.
        assert backend.get_queue_attributes(name, ["All"]) == full
