"""LocalStack's runtime, with EventBridge handing events to its SQS targets in-process.

Run by the services mode with LocalStack's own Python (`.venv-localstack`, see
shared/runner/localstack.py), in place of `python -m localstack.runtime.main`.

LocalStack's EventBridge sends each matched event to an SQS target through its internal AWS
client: a SendMessage request built and signed by botocore, parsed by LocalStack's gateway and
handler chain, answered, serialised and parsed again, all inside the one process. With
IN_MEMORY_CLIENT=1 the HTTP hop is gone, but the rest was still a quarter of LocalStack's CPU
under the platform's load (py-spy, 2026-12-04), for a call whose work is `SqsProvider.
send_message` (about 1 % of it). Here `SqsTargetSender.send_event` calls that provider method
directly, with the request context the gateway would have given it: the queue, the body,
the message group and everything the provider decides (content-based deduplication, FIFO
ordering, SentTimestamp) are what they were.

localstack/requirements.txt pins LocalStack exactly; tests/integration/test_localstack.py
checks that the names used here still exist, and that events reach FIFO queues as before.
"""

from __future__ import annotations

import runpy
from typing import Any


def _send_to_sqs_in_process() -> None:
    from localstack.aws.api import RequestContext
    from localstack.aws.spec import load_service
    from localstack.services.events.target import SqsTargetSender
    from localstack.services.events.utils import to_json_str
    from localstack.services.plugins import SERVICE_PLUGINS
    from localstack.utils.aws.arns import parse_arn, sqs_queue_url_for_arn
    from rolo import Request

    sqs_model = load_service("sqs")

    def send_event(self: Any, event: Any, trace_header: Any) -> None:
        arn = parse_arn(self.target["Arn"])
        context = RequestContext(Request("POST", "/"))
        context.service = sqs_model
        context.account_id = arn["account"]
        context.region = arn["region"]
        group = self.target.get("SqsParameters", {}).get("MessageGroupId")
        SERVICE_PLUGINS.get_service("sqs")._provider.send_message(
            context,
            sqs_queue_url_for_arn(self.target["Arn"]),
            to_json_str(event),
            message_group_id=group,
        )

    SqsTargetSender.send_event = send_event


if __name__ == "__main__":
    _send_to_sqs_in_process()
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
