"""The endpoint's ceiling: the services mode's AWS traffic for one payment, replayed against the
endpoints alone (LocalStack for EventBridge, SQS and SNS; moto for DynamoDB), with no function,
database or gateway in the way.

One payment, as the services mode makes it (bench/sustained_payments.py counts it):

- four events on the bus (`payment.requested`, `.approved`, `.debited`, `.completed`), one
  PutEvents each, as four function processes publish them;
- the eight SQS messages EventBridge makes of them (each event to its consumer and to audit),
  received and deleted as the deliverer does: one thread per queue, up to ten a receive with
  the same attributes, a DeleteMessageBatch after each, the same batching window;
- audit's receive appended in one DynamoDB transaction (`AuditChain.append_all`);
- notify's two emails in one SNS PublishBatch per `payment.completed`.

Payments are offered at rising steady rates (open loop); a rate is carried when every message
of the level is consumed and p99 from an event's publication to its consumption stays within
`QUEUE_LATENCY_BOUND_MS`. The highest rate carried is the ceiling, with the endpoints' CPU per
payment read from /proc.

    .venv/bin/python bench/endpoint_ceiling.py [--rates 10 20 30 40] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platform_run import percentile, process_cpu_seconds

from schemas.cloudevent import new_cloud_event
from schemas.events import EVENT_PAYLOADS, EventPayload
from shared import topology
from shared.adapters.audit_chain import AuditChain
from shared.adapters.aws import EventPublisher, Notification, Notifier, aws_client
from shared.provision import provision
from shared.runner.deliverer import BATCH_WINDOW_SECONDS, RECEIVE_BATCH_SIZE_MAX
from shared.runner.local import free_port
from shared.runner.localstack import LocalStack
from shared.runner.sqs_http import SqsOverHttp

RATES_DEFAULT = (10, 20, 30, 40, 50)
LEVEL_SECONDS_DEFAULT = 30
QUEUE_LATENCY_BOUND_MS = 1_000
DRAIN_SECONDS_MAX = 30
PUBLISHER_THREADS = 8
WALLETS = 40
SAGA = (
    ("payment.requested", "payments"),
    ("payment.approved", "score-fraud"),
    ("payment.debited", "debit-wallet"),
    ("payment.completed", "settle"),
)
_RECEIVED_ATTRIBUTES = ["MessageGroupId", "ApproximateReceiveCount", "SentTimestamp"]


def _payload(event_type: str, payment_id: str, payer: str) -> EventPayload:
    parties = {
        "payment_id": payment_id,
        "payer_id": payer,
        "payee_id": "usr_payee",
        "amount_minor": 100,
        "currency": "USD",
    }
    extra_by_type: dict[str, dict[str, Any]] = {
        "payment.requested": {"note": "bench"},
        "payment.approved": {"fraud_score": 0, "reasons": []},
        "payment.debited": {"transfer_id": f"{payment_id}:debit"},
        "payment.completed": {"transfer_id": f"{payment_id}:debit"},
    }
    return EVENT_PAYLOADS[event_type](**parties, **extra_by_type[event_type])


def cloud_events_of_one_payment(chooser: random.Random) -> list[dict]:
    """The four saga events of one payment, built as their producers build them."""
    payment_id, payer = f"pay_{uuid.uuid4().hex}", f"usr_{chooser.randrange(WALLETS):04d}"
    now = datetime.now(UTC)
    return [
        new_cloud_event(
            event_type=event_type,
            source_function=producer,
            subject=payment_id,
            data=_payload(event_type, payment_id, payer),
            event_id=f"evt_{uuid.uuid4().hex}",
            time=now,
            correlation_id=f"req_{uuid.uuid4().hex}",
        )
        for event_type, producer in SAGA
    ]


class Consumers:
    """One thread per queue, receiving and deleting as the deliverer does."""

    def __init__(self, sqs: SqsOverHttp, queues: dict[str, str], audit: AuditChain, notifier: Notifier) -> None:
        self._sqs, self._queues, self._audit, self._notifier = sqs, queues, audit, notifier
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.consumed = 0
        self.latency_ms: list[float] = []
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in queues]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(25)

    def _run(self, consumer: str) -> None:
        url, busy = self._queues[consumer], False
        while not self._stop.is_set():
            messages = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=RECEIVE_BATCH_SIZE_MAX,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=_RECEIVED_ATTRIBUTES,
            ).get("Messages", [])
            if not messages:
                busy = False
                continue
            received_at = time.time()
            events = [json.loads(m["Body"])["detail"] for m in messages]
            if consumer == "audit":
                self._audit.append_all(events)
            elif consumer == "notify":
                for _ in events:
                    self._notifier.publish_all("email", [Notification("paid", "{}"), Notification("paid", "{}")])
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
            with self._lock:
                self.consumed += len(messages)
                self.latency_ms += [received_at * 1000 - int(m["Attributes"]["SentTimestamp"]) for m in messages]
            if busy and len(messages) < RECEIVE_BATCH_SIZE_MAX:
                self._stop.wait(BATCH_WINDOW_SECONDS)
            busy = True


def _wait_for(url: str) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers at {url}")


def run(rates: list[float], seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="paystream-ceiling-") as home_name:
        home = Path(home_name)
        localstack = LocalStack(host="127.0.0.1", port=free_port(), home=home)
        localstack.start()
        moto_url = f"http://127.0.0.1:{free_port()}"
        moto = subprocess.Popen(
            [sys.executable, "-m", "shared.runner.moto_endpoint", "-H", "127.0.0.1", "-p", moto_url.rpartition(":")[2]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(moto_url)
            provisioned = provision(endpoint_url=localstack.url, dynamodb_endpoint_url=moto_url)
            publisher = EventPublisher(aws_client("events", endpoint_url=localstack.url), topology.BUS_NAME)
            sqs = SqsOverHttp(localstack.url, region="us-east-1")
            consumers = Consumers(
                sqs,
                {
                    c: q.queue_url
                    for c, q in provisioned.queues.items()
                    if c in ("score-fraud", "debit-wallet", "settle", "notify", "audit")
                },
                AuditChain(aws_client("dynamodb", endpoint_url=moto_url), topology.AUDIT_TABLE_NAME),
                Notifier(aws_client("sns", endpoint_url=localstack.url)),
            )
            consumers.start()
            pids = {"localstack": [localstack.pid], "moto": [moto.pid]}
            levels, chooser = [], random.Random(11)
            for rate in rates:
                figures = _level(rate, seconds, publisher, consumers, pids, chooser)
                levels.append(figures)
                print(
                    f"endpoint alone: offered {rate:.0f} payments/s: consumed {figures['consumed_share']:.3f} "
                    f"of the messages, queue latency p99 {figures['queue_latency_ms_p99']:.0f} ms; CPU ms per payment: "
                    f"localstack {figures['cpu_ms_per_payment']['localstack']:.1f}, "
                    f"moto {figures['cpu_ms_per_payment']['moto']:.1f}",
                    flush=True,
                )
                if not figures["carried"]:
                    break
            consumers.stop()
            sqs.close()
        finally:
            moto.terminate()
            moto.wait(10)
            localstack.stop()
    carried = [f["offered_per_second"] for f in levels if f["carried"]]
    return {"levels": levels, "ceiling_per_second": max(carried, default=0.0)}


def _level(rate, seconds, publisher, consumers, pids, chooser) -> dict:
    count = int(rate * seconds)
    payments = [cloud_events_of_one_payment(chooser) for _ in range(count)]
    before = {role: sum(map(process_cpu_seconds, p)) for role, p in pids.items()}
    consumed_before, latencies_before = consumers.consumed, len(consumers.latency_ms)
    with ThreadPoolExecutor(PUBLISHER_THREADS) as pool:
        start = time.monotonic()
        futures = []
        for index, events in enumerate(payments):
            pause = start + index / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures += [pool.submit(publisher.publish, [event]) for event in events]
        published = sum(len(f.result().published_ids) for f in futures)
    expected = 2 * published  # each event to its consumer and to audit
    deadline = time.monotonic() + DRAIN_SECONDS_MAX
    while consumers.consumed - consumed_before < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    after = {role: sum(map(process_cpu_seconds, p)) for role, p in pids.items()}
    consumed = consumers.consumed - consumed_before
    latency = consumers.latency_ms[latencies_before:]
    p99 = percentile(latency, 0.99)
    return {
        "offered_per_second": rate,
        "consumed_share": consumed / max(expected, 1),
        "queue_latency_ms_p99": p99,
        "carried": consumed >= expected and p99 <= QUEUE_LATENCY_BOUND_MS,
        "cpu_ms_per_payment": {role: 1000 * (after[role] - before[role]) / count for role in pids},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES_DEFAULT))
    parser.add_argument("--seconds", type=float, default=LEVEL_SECONDS_DEFAULT)
    args = parser.parse_args()
    result = run(args.rates, args.seconds)
    print(
        f"endpoint alone: ceiling {result['ceiling_per_second']:.0f} payments/s "
        f"(every message consumed, queue latency p99 ≤ {QUEUE_LATENCY_BOUND_MS} ms)"
    )


if __name__ == "__main__":
    os.environ.setdefault("DD_TRACE_ENABLED", "false")
    main()
