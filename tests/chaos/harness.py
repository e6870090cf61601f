"""Fault injection against the services mode: payments flow while things break, then the books
are checked.

`ChaosRun` drives one run:

1. Random concurrent payments between funded users go through the gateway of a running
   `paystream up --services` (a client retries a 503 or a lost answer with the same
   Idempotency-Key, as a real client would).
2. Meanwhile a fault thread, at random moments, kills a function process (the supervisor starts
   it again), terminates the services' database connections (`pg_terminate_backend` on that
   database only), cuts the AWS endpoints off for a while (a proxy in front of LocalStack and
   one in front of moto's DynamoDB refuse connections), and delivers real events again:
   republished on the bus (duplicates) and posted straight to their consumers in shuffled order
   (duplicates, out of order).
3. Then it waits until every accepted payment is final and checks the invariants: the
   per-currency ledger sums to zero, no wallet is negative, nothing is left pending, every
   event was applied exactly once (the saga's events per payment, `processed_events`, each
   wallet's balance recomputed from the payments), and the audit chain verifies with each
   event recorded once.

LocalStack, the moto server and the proxies belong to the run; PostgreSQL and Redis are the machine's, used
through a database of the run's own.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import selectors
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pg8000.dbapi
import requests
import sqlalchemy as sa

from schemas.cloudevent import short_type
from shared import topology
from shared.adapters.audit_chain import RECORDS_LIMIT_MAX, AuditChain
from shared.adapters.aws import EventPublisher, aws_client
from shared.adapters.outbox import cloud_event_of
from shared.functions import FUNCTIONS
from shared.runner.deliverer import to_binary_http
from shared.runner.local import mail_outbox_file
from tests.fixtures.mail import verification_code

__all__ = ["ChaosFigures", "ChaosRun", "EndpointSwitch", "FAULT_KINDS"]

FAULT_KINDS = ("kill_function", "drop_connections", "aws_outage", "redeliver_events")
# Bounds of the run's loops and waits.
CLIENT_ATTEMPTS_MAX = 12
CLIENT_TIMEOUT_SECONDS = 15
CLIENT_RETRY_SECONDS_MAX = 2.0
REDELIVERED_EVENTS_PER_FAULT_MAX = 12
AWS_OUTAGE_SECONDS = (1.0, 4.0)
FAULT_PAUSE_SECONDS = (1.0, 3.0)
# The first round, one fault of each kind, comes quickly so that a short run has them all.
FIRST_ROUND_PAUSE_SECONDS = (0.3, 1.0)
FIRST_ROUND_SECONDS_MAX = 60
SETTLE_POLL_SECONDS = 0.5
PROXY_BUFFER_BYTES = 65536
ACCEPT_POLL_SECONDS = 0.2
FINAL_STATUSES = ("completed", "declined", "failed")
SCORE_RESULTS = ("payment.approved", "payment.held", "payment.declined")
TOPUP_MINOR = 50_000
PAYMENT_MINOR_MAX = 4_000
CURRENCY = "USD"


class EndpointSwitch:
    """A TCP proxy in front of the AWS endpoint that can refuse connections for a while.

    Down, it closes its listening socket and every open connection: a client gets "connection
    refused" or a reset, as from an endpoint that stopped, while the endpoint keeps its state.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def up(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            listener.close()
        for connection in connections:
            _close(connection)

    def _accept(self, listener: socket.socket) -> None:
        # accept() with a timeout: closing a socket does not wake a thread blocked on it.
        listener.settimeout(ACCEPT_POLL_SECONDS)
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by down()
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            try:
                # Inside the try: down() may have closed them since the accept.
                for sock in peers:
                    selector.register(sock, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select():
                        sock = cast(socket.socket, key.fileobj)  # registered above: the two sockets
                        data = sock.recv(PROXY_BUFFER_BYTES)
                        if not data:
                            return
                        peers[sock].sendall(data)
            except (OSError, ValueError):
                return
            finally:
                with self._lock:
                    self._connections.difference_update(peers)
                for sock in peers:
                    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class ChaosFigures:
    """What a run did and found; printed at the end."""

    duration_seconds: float = 0.0
    users: int = 0
    payments_per_second: float = 0.0
    payments_accepted: int = 0
    payments_by_status: dict[str, int] = field(default_factory=dict)
    http_statuses: dict[int, int] = field(default_factory=dict)
    client_retries: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    duplicates_delivered: int = 0
    events: int = 0
    audit_records: int = 0
    recovery_seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"chaos: {self.duration_seconds:.0f} s of traffic, {self.users} users, "
            f"{self.payments_per_second} payments/s offered",
            f"payments accepted: {self.payments_accepted}; final: "
            + ", ".join(f"{status} {count}" for status, count in sorted(self.payments_by_status.items())),
            "faults injected: " + ", ".join(f"{kind} {count}" for kind, count in self.faults.items()),
            f"duplicates delivered: {self.duplicates_delivered}",
            "client answers: "
            + ", ".join(f"{status}: {count}" for status, count in sorted(self.http_statuses.items()))
            + f"; client retries {self.client_retries}",
            f"events: {self.events}; audit records: {self.audit_records}",
            f"recovery: every payment final {self.recovery_seconds:.1f} s after the last fault",
        ]


class ChaosRun:
    """One run against a started services platform (see the module doc)."""

    def __init__(
        self,
        *,
        gateway_url: str,
        database_url: str,
        aws_url: str,
        dynamodb_url: str,
        switches: Sequence[EndpointSwitch],
        home: Path,
        functions_base_port: int,
        seed: int,
    ) -> None:
        self.gateway_url = gateway_url
        self.database_url = database_url
        self.switches = tuple(switches)
        self.home = home
        self.random = random.Random(seed)
        self.figures = ChaosFigures()
        self.engine = sa.create_engine(database_url, pool_size=2, pool_pre_ping=True)
        self.dynamodb_url = dynamodb_url
        self.publisher = EventPublisher(aws_client("events", endpoint_url=aws_url), topology.BUS_NAME)
        self.function_urls = {
            info.name: f"http://127.0.0.1:{functions_base_port + index}" for index, info in enumerate(FUNCTIONS)
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._every_kind_injected = threading.Event()
        self._tokens: dict[str, dict[str, str]] = {}
        self._payment_ids: list[str] = []
        self._last_fault_at = time.monotonic()
        self.errors: list[str] = []

    # -- the client side ----------------------------------------------------------------------

    def _request(self, session: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One client call, retried on 503 or no answer with the same body and key."""
        for attempt in range(CLIENT_ATTEMPTS_MAX):
            try:
                answer = session.request(method, self.gateway_url + path, timeout=CLIENT_TIMEOUT_SECONDS, **kwargs)
            except requests.RequestException:
                answer = None
            with self._lock:
                status = answer.status_code if answer is not None else 0
                self.figures.http_statuses[status] = self.figures.http_statuses.get(status, 0) + 1
            if answer is not None and answer.status_code < 500:
                return answer
            if answer is not None and answer.status_code != 503:
                self.errors.append(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
                return answer
            with self._lock:
                self.figures.client_retries += 1
            retry_after = float(answer.headers.get("Retry-After", 1)) if answer is not None else 0.5
            time.sleep(min(retry_after, CLIENT_RETRY_SECONDS_MAX) * (1 + attempt / 4))
        raise AssertionError(f"{method} {path} got no answer in {CLIENT_ATTEMPTS_MAX} attempts")

    def sign_up_and_fund(self, users: int) -> None:
        session = requests.Session()
        for number in range(users):
            email = f"chaos-{uuid.uuid4().hex[:12]}-{number}@example.com"
            password = "a long chaos password"
            created = self._request(
                session,
                "POST",
                "/v1/users",
                json={"email": email, "password": password, "full_name": f"Chaos {number}", "country": "US"},
            )
            assert created.status_code == 201, created.text
            token = self._request(
                session,
                "POST",
                "/v1/oauth/token",
                data={"grant_type": "password", "username": email, "password": password},
            )
            assert token.status_code == 200, token.text
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            # Verified with the e-mailed code, as a user would: unverified, 100 USD in all at most.
            verified = self._request(
                session,
                "POST",
                "/v1/users/me/email/verify",
                headers=auth,
                json={"code": verification_code(mail_outbox_file(self.home), email)},
            )
            assert verified.status_code == 200, verified.text
            card = self._request(
                session,
                "POST",
                "/v1/funding-sources",
                headers=auth,
                json={"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
            )
            assert card.status_code == 201, card.text
            topup = self._request(
                session,
                "POST",
                "/v1/topups",
                headers={**auth, "Idempotency-Key": f"chaos-topup-{uuid.uuid4().hex}"},
                json={"funding_source_id": card.json()["id"], "amount": TOPUP_MINOR, "currency": CURRENCY},
            )
            assert topup.status_code == 201, topup.text
            self._tokens[created.json()["id"]] = auth
        self.figures.users = users

    def _pay_until_stopped(self, worker_seed: int, interval_seconds: float) -> None:
        chooser = random.Random(worker_seed)
        session = requests.Session()
        user_ids = list(self._tokens)
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval_seconds
            payer, payee = chooser.sample(user_ids, 2)
            key = f"chaos-pay-{uuid.uuid4().hex}"
            body = {"to": payee, "amount": chooser.randint(1, PAYMENT_MINOR_MAX), "currency": CURRENCY, "note": "chaos"}
            answer = self._request(
                session, "POST", "/v1/payments", headers={**self._tokens[payer], "Idempotency-Key": key}, json=body
            )
            if answer.status_code == 202:
                with self._lock:
                    self._payment_ids.append(answer.json()["id"])
            else:
                self.errors.append(f"payment refused with {answer.status_code}: {answer.text[:300]}")

    # -- the faults ---------------------------------------------------------------------------

    def _kill_function(self) -> None:
        name = self.random.choice([info.name for info in FUNCTIONS])
        pid_file = self.home / "pids" / f"{name}.pid"
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return  # already gone and being restarted
        self.figures.faults["kill_function"] += 1

    def _drop_connections(self) -> None:
        url = sa.make_url(self.database_url)
        connection = pg8000.dbapi.connect(
            user=url.username or "postgres",
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            database="postgres",
            password=url.password,
        )
        try:
            cursor = connection.cursor()
            # The services' own database only: the server is shared.
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )
            cursor.fetchall()
            connection.commit()
        finally:
            connection.close()
        self.figures.faults["drop_connections"] += 1

    def _aws_outage(self) -> None:
        for switch in self.switches:
            switch.down()
        self.figures.faults["aws_outage"] += 1
        try:
            self._stop.wait(self.random.uniform(*AWS_OUTAGE_SECONDS))
        finally:
            for switch in self.switches:
                switch.up()

    def _redeliver_events(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT * FROM events ORDER BY random() LIMIT :limit"),
                {"limit": REDELIVERED_EVENTS_PER_FAULT_MAX},
            ).all()
        if not rows:
            return
        cloud_events = [cloud_event_of(row) for row in rows]
        self.random.shuffle(cloud_events)
        half = len(cloud_events) // 2
        # Half again through the bus: each reaches every consumer of its type a second time.
        result = self.publisher.publish(cloud_events[:half])
        delivered = sum(
            len(topology.consumers_of(short_type(event["type"])))
            for event in cloud_events[:half]
            if event["id"] in result.published_ids
        )
        # Half straight to the consumers, shuffled: a duplicate, and out of order.
        for event in cloud_events[half:]:
            headers, body = to_binary_http(event)
            for consumer in topology.consumers_of(short_type(event["type"])):
                try:
                    status = requests.post(
                        self.function_urls[consumer],
                        headers=headers,
                        data=body,
                        timeout=CLIENT_TIMEOUT_SECONDS,
                    ).status_code
                except requests.RequestException:
                    continue  # a killed function: the queue's copy is the one that counts
                if 200 <= status < 300:
                    delivered += 1
                elif status < 500:
                    self.errors.append(f"{consumer} refused a redelivered {event['type']}: {status}")
        self.figures.duplicates_delivered += delivered
        self.figures.faults["redeliver_events"] += 1

    def _inject_until_stopped(self) -> None:
        actions: dict[str, Callable[[], None]] = {
            "kill_function": self._kill_function,
            "drop_connections": self._drop_connections,
            "aws_outage": self._aws_outage,
            "redeliver_events": self._redeliver_events,
        }
        kinds = list(FAULT_KINDS)
        self.random.shuffle(kinds)
        first_round = len(kinds)
        while not self._stop.wait(self.random.uniform(*(FIRST_ROUND_PAUSE_SECONDS if kinds else FAULT_PAUSE_SECONDS))):
            # Every kind once early on, then at random.
            kind = kinds.pop(0) if kinds else self.random.choice(FAULT_KINDS)
            try:
                actions[kind]()
            except Exception as error:  # noqa: BLE001 - a fault that failed is reported
                self.errors.append(f"injecting {kind} failed: {error!r}")
            self._last_fault_at = time.monotonic()
            first_round -= 1
            if first_round == 0:
                self._every_kind_injected.set()

    # -- the run ------------------------------------------------------------------------------

    def run(self, *, seconds: float, workers: int, payments_per_second: float) -> None:
        """`workers` clients paying at `payments_per_second` together while faults happen.

        The rate is kept low: faults, not load, are what this run is about, and every fault
        leaves a backlog that the platform must drain before the checks.
        """
        began = time.monotonic()
        interval_seconds = workers / payments_per_second
        threads = [
            threading.Thread(
                target=self._pay_until_stopped,
                args=(self.random.random(), interval_seconds),
                daemon=True,
            )
            for _ in range(workers)
        ]
        threads.append(threading.Thread(target=self._inject_until_stopped, daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        # Traffic goes on until each kind of fault has happened once, however short the run.
        self._every_kind_injected.wait(FIRST_ROUND_SECONDS_MAX)
        self._stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_SECONDS * CLIENT_ATTEMPTS_MAX)
        for switch in self.switches:
            switch.up()
        self.figures.duration_seconds = time.monotonic() - began
        self.figures.payments_per_second = payments_per_second
        self.figures.payments_accepted = len(self._payment_ids)

    def wait_until_settled(self, seconds_max: float) -> None:
        """Wait until every accepted payment is final and the audit chain has every event."""
        deadline = time.monotonic() + seconds_max
        while time.monotonic() < deadline:
            if not self._unfinished_payments():
                break
            time.sleep(SETTLE_POLL_SECONDS)
        self.figures.recovery_seconds = time.monotonic() - self._last_fault_at
        while time.monotonic() < deadline:
            if self._audit_length() >= self._event_count() and not self._outbox_rows():
                break
            time.sleep(SETTLE_POLL_SECONDS)

    def _unfinished_payments(self) -> int:
        with self.engine.connect() as conn:
            statuses: Sequence[str] = (
                conn.execute(
                    sa.text("SELECT status FROM payments WHERE id = ANY(:ids)"),
                    {"ids": self._payment_ids},
                )
                .scalars()
                .all()
            )
        return len(self._payment_ids) - sum(status in FINAL_STATUSES for status in statuses)

    def _event_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()

    def _outbox_rows(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()

    def _audit(self) -> AuditChain:
        return AuditChain(aws_client("dynamodb", endpoint_url=self.dynamodb_url), topology.AUDIT_TABLE_NAME)

    def _audit_length(self) -> int:
        return self._audit().head()[0]

    # -- the checks ---------------------------------------------------------------------------

    def _unhandled_errors(self) -> list[str]:
        """What made a client function answer 500, from the platform's log: each error's last
        traceback lines, so that a failed run says why without being run again."""
        found = []
        for line in (self.home / "platform.log").read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if str(record.get("message", "")).startswith("unhandled error in"):
                tail = str(record.get("exception", "")).strip().splitlines()[-3:]
                found.append(f"{record['message']}: " + " | ".join(part.strip() for part in tail))
        return found

    def check(self) -> list[str]:
        """Every broken invariant, in words; empty when the books are right."""
        problems = list(self.errors) + self._unhandled_errors()
        with self.engine.connect() as conn:
            statuses: dict[str, int] = dict(
                conn.execute(
                    sa.text("SELECT status, count(*) FROM payments WHERE id = ANY(:ids) GROUP BY status"),
                    {"ids": self._payment_ids},
                )
                .tuples()  # SQLAlchemy's typing of a row that is unpacked (the rows are the same)
                .all()
            )
            self.figures.payments_by_status = statuses
            unfinished = {s: n for s, n in statuses.items() if s not in FINAL_STATUSES}
            if unfinished:
                problems.append(f"payments not final: {unfinished}")
            if sum(statuses.values()) != len(self._payment_ids):
                problems.append("some accepted payments are missing from the database")
            for currency, total in conn.execute(
                sa.text("SELECT currency, sum(credits_posted - debits_posted) FROM accounts GROUP BY currency")
            ).all():
                if total != 0:
                    problems.append(f"the {currency} ledger sums to {total}, not zero")
            pending: int = conn.execute(
                sa.text("SELECT count(*) FROM accounts WHERE debits_pending <> 0 OR credits_pending <> 0")
            ).scalar_one()
            if pending:
                problems.append(f"{pending} accounts still hold pending amounts")
            negative: Sequence[str] = (
                conn.execute(
                    sa.text(
                        "SELECT id FROM accounts WHERE kind = 'wallet' "
                        "AND credits_posted - debits_posted - debits_pending < 0"
                    )
                )
                .scalars()
                .all()
            )
            if negative:
                problems.append(f"negative wallets: {negative}")
            problems.extend(self._check_each_event_applied_once(conn))
            problems.extend(self._check_balances(conn))
            self.figures.events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
            event_ids: set[str] = set(conn.execute(sa.text("SELECT id FROM events")).scalars().all())
        problems.extend(self._check_audit(event_ids))
        return problems

    def _check_each_event_applied_once(self, conn: sa.Connection) -> list[str]:
        problems = []
        per_payment: collections.defaultdict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        # .tuples(): SQLAlchemy's typing of a row that is unpacked (the rows are the same).
        for subject, event_type, count in (
            conn.execute(
                sa.text("SELECT subject, type, count(*) FROM events WHERE subject = ANY(:ids) GROUP BY subject, type"),
                {"ids": self._payment_ids},
            )
            .tuples()
            .all()
        ):
            per_payment[subject][event_type] = count
        for payment_id in self._payment_ids:
            counts = per_payment[payment_id]
            decisions = sum(counts[t] for t in SCORE_RESULTS)
            terminal = counts["payment.completed"] + counts["payment.failed"] + counts["payment.declined"]
            if counts["payment.requested"] != 1 or decisions != 1 or terminal != 1 or counts["payment.debited"] > 1:
                problems.append(f"payment {payment_id} has events {dict(counts)}")
        # Each saga step ran once per event it consumes: one claim each, no more, no fewer.
        for consumer, event_type in (
            ("score-fraud", "payment.requested"),
            ("debit-wallet", "payment.approved"),
            ("settle", "payment.debited"),
        ):
            claims, events_of_type = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM processed_events WHERE consumer = :consumer), "
                    "(SELECT count(*) FROM events WHERE type = :type)"
                ),
                {"consumer": consumer, "type": event_type},
            ).one()
            if claims != events_of_type:
                problems.append(f"{consumer} claimed {claims} events for {events_of_type} {event_type}")
        return problems

    def _check_balances(self, conn: sa.Connection) -> list[str]:
        """Each wallet holds its top-up plus what completed payments moved, exactly once."""
        expected = dict.fromkeys(self._tokens, TOPUP_MINOR)
        # .tuples(): SQLAlchemy's typing of a row that is unpacked (the rows are the same).
        for payer, payee, amount in (
            conn.execute(
                sa.text(
                    "SELECT payer_id, payee_id, amount_minor FROM payments "
                    "WHERE id = ANY(:ids) AND status = 'completed'"
                ),
                {"ids": self._payment_ids},
            )
            .tuples()
            .all()
        ):
            expected[payer] -= amount
            expected[payee] += amount
        actual: dict[str, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT user_id, credits_posted - debits_posted FROM accounts "
                    "WHERE kind = 'wallet' AND currency = :currency AND user_id = ANY(:users)"
                ),
                {"currency": CURRENCY, "users": list(self._tokens)},
            )
            .tuples()
            .all()
        )
        return [
            f"wallet of {user} holds {actual.get(user)}, expected {balance}"
            for user, balance in expected.items()
            if actual.get(user) != balance
        ]

    def _check_audit(self, event_ids: set[str]) -> list[str]:
        chain = self._audit()
        verification = chain.verify()
        problems = []
        if not verification.ok:
            problems.append(f"the audit chain breaks at {verification.first_broken_seq}")
        recorded: list[str] = []
        after = 0
        while True:
            page = chain.records(limit=RECORDS_LIMIT_MAX, after_seq=after)
            if not page:
                break
            recorded.extend(record.event_id for record in page)
            after = page[-1].seq
        self.figures.audit_records = len(recorded)
        duplicates = [i for i, n in collections.Counter(recorded).items() if n > 1]
        if duplicates:
            problems.append(f"events audited twice: {duplicates[:5]}")
        missing = event_ids - set(recorded)
        if missing:
            problems.append(f"{len(missing)} events never audited, e.g. {sorted(missing)[:3]}")
        return problems
