"""The moto fix answers exactly what moto would, only without scanning the queue."""

from __future__ import annotations

import functools
import json
from typing import Any, cast

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


def test_the_message_counts_equal_moto_s_own(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        # GIVEN a queue with visible, in-flight and delayed messages
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="counts")["QueueUrl"]
        for n in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        queue = sqs_backends["123456789012"]["us-east-1"].get_queue("counts")
        expected = (
            len(queue.messages),
            len([m for m in queue._messages if not m.visible]),
            len([m for m in queue._messages if m.delayed]),
        )
        # WHEN counted with the fix THEN the counts are moto's
        install()
        counted = (
            queue.approximate_number_of_messages,
            queue.approximate_number_of_messages_not_visible,
            queue.approximate_number_of_messages_delayed,
        )
        assert counted == expected == (3, 2, 1)


def _table(dynamodb) -> None:
    dynamodb.create_table(
        TableName="chain",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _put(pk: str, value: str, condition: str | None = None) -> dict:
    put = {"TableName": "chain", "Item": {"pk": {"S": pk}, "sk": {"N": "0"}, "v": {"S": value}}}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _items(dynamodb) -> dict[str, str]:
    return {item["pk"]["S"]: item["v"]["S"] for item in dynamodb.scan(TableName="chain")["Items"]}


def test_a_cancelled_transaction_leaves_every_item_as_it_was(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    install()
    with mock_aws():
        # GIVEN two items
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        dynamodb.put_item(**_put("kept", "before")["Put"])
        dynamodb.put_item(**_put("taken", "before")["Put"])
        # WHEN a transaction overwrites one, adds one, and then fails its last condition
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
            dynamodb.transact_write_items(
                TransactItems=[
                    _put("kept", "after"),
                    _put("new", "after"),
                    _put("taken", "after", "attribute_not_exists(pk)"),
                ]
            )
        # THEN nothing of it stays, and the reasons name the failed condition
        assert _items(dynamodb) == {"kept": "before", "taken": "before"}
        codes = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
        assert codes == ["None", "None", "ConditionalCheckFailed"]
        # AND a transaction that holds writes all of it
        dynamodb.transact_write_items(TransactItems=[_put("kept", "after"), _put("new", "after")])
        assert _items(dynamodb) == {"kept": "after", "new": "after", "taken": "before"}


def test_a_transaction_no_longer_copies_the_table(monkeypatch):
    # moto's own transaction deep-copies each table it writes to, so its cost grows with the
    # table; with the fix, moto's backend gets the table itself back from that copy.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    install()
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import dynamodb_backends

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        table = dynamodb_backends["123456789012"]["us-east-1"].get_table("chain")
        assert dynamodb_models.copy.deepcopy(table) is table
        assert dynamodb_models.copy.deepcopy({"a": [1]}) == {"a": [1]}


def test_eventbridge_delivers_the_same_message_with_each_path_parsed_once(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    install()
    import jsonpath_ng.ext as jsonpath_ext

    with mock_aws():
        # GIVEN a rule sending every event of a bus to a queue
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventPattern='{"source": ["probe"]}')
        events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
        # WHEN two events are put (install() wrapped jsonpath-ng's parse in an lru_cache, which its
        # declared type does not say)
        before = cast("functools._lru_cache_wrapper[Any]", jsonpath_ext.parse).cache_info()
        for n in range(2):
            events.put_events(Entries=[{"Source": "probe", "DetailType": "t", "Detail": f'{{"n": {n}}}'}])
        # THEN both arrive whole, and the second parsed no path again
        bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
        assert sorted(body["detail"]["n"] for body in bodies) == [0, 1]
        assert {"id", "time", "detail-type", "source", "region", "resources", "detail"} <= set(bodies[0])
        after = cast("functools._lru_cache_wrapper[Any]", jsonpath_ext.parse).cache_info()
        assert after.hits - before.hits >= 8
