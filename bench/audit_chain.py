"""Benchmark: audit chain appends per second as the chain grows, on the local moto server.

Every event of the platform is appended to one hash chain by the audit function, one at a time,
so the append rate bounds how far audit can fall behind. It must not fall as the chain grows.
The baseline, measured in the same run, is the rate of the first window (an empty chain); each
later window prints its ratio to it. The run also times one-item TransactWriteItems calls on the
empty and on the full table: the reason appends use conditional puts instead (moto deep-copies
the table for every transaction item).

    .venv/bin/python bench/audit_chain.py [--events 3000] [--window 250]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.adapters.audit_chain import AuditChain, audit_table_definition
from shared.adapters.aws import aws_client

TABLE = "paystream-bench-audit"
TRANSACTION_PROBES = 30
STARTUP_SECONDS_MAX = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_moto(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "shared.runner.moto_endpoint", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the moto server did not start")


def _event(number: int) -> dict:
    return {
        "specversion": "1.0",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.completed",
        "source": "/paystream/settle",
        "subject": f"pay_{number:08d}",
        "time": "2026-11-22T09:00:00Z",
        "datacontenttype": "application/json",
        "data": {"payment_id": f"pay_{number:08d}", "amount_minor": 100 + number, "currency": "EUR"},
    }


def _transaction_seconds(client, label: str) -> float:
    """Mean seconds of a one-item TransactWriteItems into the audit table."""
    started = time.perf_counter()
    for _ in range(TRANSACTION_PROBES):
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": f"probe#{label}"}, "sk": {"N": str(uuid.uuid4().int % 10**9)}},
                    }
                }
            ]
        )
    return (time.perf_counter() - started) / TRANSACTION_PROBES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--window", type=int, default=250)
    args = parser.parse_args()
    port = _free_port()
    server = _start_moto(port)
    try:
        client = aws_client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}")
        client.create_table(**audit_table_definition(TABLE))
        chain = AuditChain(client, TABLE)
        empty_transaction = _transaction_seconds(client, "empty")
        rates = []
        print(f"{'chain length':>14} {'appends/s':>10} {'ratio':>7}")
        for start in range(0, args.events, args.window):
            began = time.perf_counter()
            for number in range(start, min(start + args.window, args.events)):
                chain.append(_event(number))
            rate = (min(args.window, args.events - start)) / (time.perf_counter() - began)
            rates.append(rate)
            print(f"{start:>6}-{start + args.window:<7} {rate:>10.1f} {rate / rates[0]:>6.2f}x")
        verification = chain.verify()
        if not verification.ok or verification.length != args.events:
            raise SystemExit(f"the chain does not verify: {verification}")
        full_transaction = _transaction_seconds(client, "full")
        print(f"last window / first window: {rates[-1] / rates[0]:.2f}x (chain of {args.events} verified)")
        print(
            f"one-item TransactWriteItems: {empty_transaction * 1000:.1f} ms on the empty table, "
            f"{full_transaction * 1000:.1f} ms at {args.events} records "
            f"({full_transaction / empty_transaction:.1f}x)"
        )
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
