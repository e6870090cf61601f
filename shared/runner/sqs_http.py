"""The deliverer's SQS calls over kept-alive HTTP, in SQS's JSON protocol, signed with SigV4.

The local services mode's supervisor makes a receive and a delete for every batch of every
queue. Through boto3 each of those costs about 0.8 ms of the supervisor's CPU (request
construction, its event hooks, response parsing), five times the call itself over
`http.client`; the supervisor's CPU per payment is a budget (bench/RESULTS.md), and these calls
were most of it. The deliverer needs five operations with boto3's parameters and answers, so
`SqsOverHttp` offers those five, with the same names, parameters and answers, and nothing else:

- requests are signed by botocore's own SigV4 signer, as boto3 signs them;
- an error answer raises `SqsError` (its `code` is AWS's error code); no answer raises
  `NoAnswer`: the deliverer treats both as an endpoint failure and backs off;
- each call counts as `paystream.aws.requests`, as boto3's do.

The embedded mode keeps boto3: its moto answers in-process, with no HTTP endpoint to call.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.adapters.aws import LOCAL_ENDPOINT_CREDENTIALS
from shared.observability.metrics import aws_request_made
from shared.runner.keepalive import KeepAliveClient

__all__ = ["SqsError", "SqsOverHttp"]

# Longer than SQS's longest long poll (20 s), as for every AWS client of the platform.
_READ_TIMEOUT_SECONDS = 30
_CONNECT_TIMEOUT_SECONDS = 5
_JSON_PROTOCOL = "application/x-amz-json-1.0"
_TARGET_PREFIX = "AmazonSQS."


class SqsError(Exception):
    """SQS answered with an error."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.code = code
        self.status = status


class SqsOverHttp:
    """The five SQS operations the deliverer makes, against one endpoint (LocalStack here)."""

    def __init__(
        self, endpoint_url: str, *, region: str, credentials: tuple[str, str] = LOCAL_ENDPOINT_CREDENTIALS
    ) -> None:
        self._endpoint_url = endpoint_url.rstrip("/")
        self._client = KeepAliveClient(
            self._endpoint_url,
            connect_timeout_seconds=_CONNECT_TIMEOUT_SECONDS,
            read_timeout_seconds=_READ_TIMEOUT_SECONDS,
        )
        self._signer = SigV4Auth(Credentials(*credentials), "sqs", region)

    def receive_message(self, **parameters: Any) -> dict[str, Any]:
        return self._call("ReceiveMessage", parameters)

    def delete_message_batch(self, **parameters: Any) -> dict[str, Any]:
        return self._call("DeleteMessageBatch", parameters)

    def change_message_visibility(self, **parameters: Any) -> dict[str, Any]:
        return self._call("ChangeMessageVisibility", parameters)

    def change_message_visibility_batch(self, **parameters: Any) -> dict[str, Any]:
        return self._call("ChangeMessageVisibilityBatch", parameters)

    def send_message(self, **parameters: Any) -> dict[str, Any]:
        return self._call("SendMessage", parameters)

    def close(self) -> None:
        self._client.close()

    def _call(self, operation: str, parameters: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(parameters, separators=(",", ":")).encode("utf-8")
        request = AWSRequest(
            method="POST",
            url=self._endpoint_url + "/",
            data=body,
            headers={"Content-Type": _JSON_PROTOCOL, "X-Amz-Target": _TARGET_PREFIX + operation},
        )
        self._signer.add_auth(request)
        aws_request_made(aws_service="sqs", operation=operation)
        answer = self._client.request("POST", "/", body, dict(request.headers.items()))
        content = json.loads(answer.body) if answer.body else {}
        if answer.status >= 300:
            code = str(content.get("__type", "")).rpartition("#")[2] or f"HTTP{answer.status}"
            raise SqsError(code, str(content.get("message") or content.get("Message") or ""), answer.status)
        return content
