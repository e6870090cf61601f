"""The hash-chained audit record, in one DynamoDB table.

Every event of the platform is appended once, in order, to a chain in which each record's
hash covers the previous record's hash and the event's canonical JSON:

    hash(n) = sha256(hash(n - 1) + canonical_json(event n)),  hash(0) = GENESIS_HASH

so changing, removing or reordering any stored record breaks every later link, and `verify`
finds the first broken one.

Items of the table (partition key `pk`, sort key `sk`, both listed in `audit_table_definition`):

- a record, ``pk="record"``, ``sk=seq``: seq, event id, type, subject, time, the canonical JSON,
  prev_hash and hash; the record with the highest seq is the chain's head;
- the head, ``pk="head"``: the seq and hash of the last record, so that `verify` also notices
  records removed from the end of the chain;
- an event marker, ``pk="event#<id>"``: the seq of the record that holds that event;
- index links, ``pk="entity#<id>"`` or ``pk="day#<YYYY-MM-DD>"``, ``sk=seq``: one per entity the
  event names (its subject and the ids in its data: a payment, a user, a review's payment, a
  KYC document) and one for the UTC day of its time, so that an entity's records and a day's
  records are one Query each (`records_of_entity`, `records_of_day`) instead of a scan of the
  chain. A link holds only the seq: the record it points at is the one that is hashed and
  verified, and a link is never evidence of anything by itself.

One append is one transaction (TransactWriteItems) of the event's marker, only if the event
has none yet; the record at the next seq, only if that seq is free; the record's index links
(unconditional: they follow the record's fate); and the head, only forward. All of them or
none are written, so a crash leaves no half-append behind, and a redelivered event finds its
marker and its record and appends nothing. A writer whose seq another writer took reads the
chain's end again and retries after it, after a short random wait that grows with each refusal.
Several events (`append_all`) go in one transaction, a marker, a record and its links each and
the head once (within DynamoDB's `TRANSACT_ITEMS_MAX` items), when none of them is in the chain
yet; when that transaction is refused, each is appended on its own.

Chains written by the earlier protocol (three conditional writes one after another, marker
first) can hold what an interrupted writer left: a marker naming a seq that another event took,
or a record whose marker and head were never written. An append finds both and finishes the
event where it is, or moves its stale claim (a put conditional on the marker still naming the
old seq) to the next free seq; the record at the marker's seq is the only place the event is
ever written, so no event is appended twice. The head is therefore a lower bound of the chain's
length, which the next append or `verify` reads past. Records of that protocol have no index
links unless an append finishes them (it writes the links then).

moto, the local DynamoDB, deep-copies every table a transaction writes to before each of its
items (its rollback restores the copy), which would make appends slower as the chain grows;
`shared.runner.moto_endpoint` keeps only the items the transaction writes instead.

Within one process, appends to a table are serialized by a lock: threads of one process would
only race each other for the next seq and burn attempts. Across processes the conditional
write decides.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import ClientError

__all__ = [
    "APPEND_ATTEMPTS_MAX",
    "APPEND_BACKOFF_BASE_SECONDS",
    "APPEND_BACKOFF_MAX_SECONDS",
    "APPEND_BATCH_MAX",
    "ENTITIES_PER_RECORD_MAX",
    "GENESIS_HASH",
    "RECORDS_LIMIT_MAX",
    "TRANSACT_ITEMS_MAX",
    "VERIFY_PAGE_SIZE",
    "AuditChain",
    "AuditChainContention",
    "AuditRecord",
    "ChainVerification",
    "audit_table_definition",
    "canonical_json",
    "chain_hash",
    "day_of",
    "entity_ids_of",
    "record_is_sound",
]

logger = logging.getLogger(__name__)

# The prev_hash of the first record.
GENESIS_HASH = "0" * 64
# Attempts at one append when other writers keep advancing the head between read and write.
APPEND_ATTEMPTS_MAX = 8
# Between refused attempts a writer waits a random time up to BACKOFF_BASE * 2**attempt, at most
# BACKOFF_MAX ("full jitter"): writers that collided once spread out instead of colliding again.
APPEND_BACKOFF_BASE_SECONDS = 0.005
APPEND_BACKOFF_MAX_SECONDS = 0.25
# Events appended in one transaction, at most: fewer when their index links would take the
# transaction past TRANSACT_ITEMS_MAX (each event is a marker, a record and its links; the head
# is one more).
APPEND_BATCH_MAX = 49
# DynamoDB's limit of items in one TransactWriteItems.
TRANSACT_ITEMS_MAX = 100
# Entities one record is indexed under (its subject first, then the ids in its data): enough
# for a payment's payer, payee, request and refund, and a bound on an append's size.
ENTITIES_PER_RECORD_MAX = 8
# The most records one `records()` call returns.
RECORDS_LIMIT_MAX = 1000
# Records read per Query while verifying.
VERIFY_PAGE_SIZE = 500

_PARTITION_KEY = "pk"
_SORT_KEY = "sk"
_HEAD_PARTITION = "head"
_RECORD_PARTITION = "record"
_MARKER_PREFIX = "event#"
_ENTITY_PREFIX = "entity#"
_DAY_PREFIX = "day#"
# The ids that index a record: Paystream's own (`pay_…`, `usr_…`, `kyd_…`), never free text.
_ENTITY_ID = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9]{8,64}$")
# Keys per BatchGetItem, DynamoDB's limit; and its retries of keys it left unprocessed.
_BATCH_GET_KEYS_MAX = 100
_BATCH_GET_ATTEMPTS_MAX = 8
# Items that are one per partition (head, markers) use this sort key.
_SINGLETON_SORT_KEY = 0
# The items of an append, as named when a transaction refuses some of them.
_MARKER, _RECORD, _HEAD, _LINK = "marker", "record", "head", "link"

# One append at a time per table within this process (see the module docstring).
_APPEND_LOCKS: dict[str, threading.Lock] = {}
_APPEND_LOCKS_GUARD = threading.Lock()


def audit_table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the audit table (on-demand capacity)."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": _PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": _SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": _PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": _SORT_KEY, "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def canonical_json(cloud_event: dict) -> str:
    """The event as JSON with sorted keys and no insignificant whitespace: the hashed form."""
    return json.dumps(cloud_event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, event_json: str) -> str:
    """sha256(prev_hash + canonical JSON), hex."""
    return hashlib.sha256((prev_hash + event_json).encode("utf-8")).hexdigest()


def entity_ids_of(cloud_event: dict) -> tuple[str, ...]:
    """The entities an event is about, which index its record: its subject, then every id in its
    data (`payment_id`, `payer_id`, `target_id`, ...), each once, at most
    `ENTITIES_PER_RECORD_MAX`. Only values shaped like Paystream's ids count, so a note or a
    reason never becomes an index key."""
    found: list[str] = []
    data = cloud_event.get("data")
    candidates = [cloud_event.get("subject")]
    if isinstance(data, dict):
        candidates += [value for key, value in sorted(data.items()) if key.endswith("_id")]
    for value in candidates:
        if isinstance(value, str) and _ENTITY_ID.match(value) and value not in found:
            found.append(value)
    return tuple(found[:ENTITIES_PER_RECORD_MAX])


def day_of(time: str | None) -> date | None:
    """The UTC day of a CloudEvent `time` (RFC 3339), None when it has none or it is not one."""
    if not time:
        return None
    try:
        moment = datetime.fromisoformat(time)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class AuditRecord:
    """One link of the chain."""

    seq: int
    event_id: str
    event_type: str
    subject: str | None
    time: str | None
    event_json: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of recomputing the chain: `first_broken_seq` is None when `ok`, and `reason`
    says what is wrong with that link when not."""

    ok: bool
    length: int
    first_broken_seq: int | None
    reason: str | None = None


@dataclass(frozen=True)
class _Pending:
    """An event on its way into the chain."""

    cloud_event: dict
    event_id: str
    event_type: str
    event_json: str

    @classmethod
    def of(cls, cloud_event: dict) -> _Pending:
        event_id, event_type = cloud_event.get("id"), cloud_event.get("type")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("an audited CloudEvent needs a non-empty string id")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("an audited CloudEvent needs a non-empty string type")
        return cls(cloud_event, event_id, event_type, canonical_json(cloud_event))

    @property
    def index_partitions(self) -> tuple[str, ...]:
        """The partitions of the record's index links: its entities and its day."""
        return _index_partitions(self.cloud_event)

    @property
    def items_to_append(self) -> int:
        """Items of a transaction that appends it: marker, record and links."""
        return 2 + len(self.index_partitions)

    def record_after(self, last: AuditRecord | None) -> AuditRecord:
        """The event's record as the link after `last` (the first link when there is none)."""
        prev_hash = last.hash if last else GENESIS_HASH
        return AuditRecord(
            seq=last.seq + 1 if last else 1,
            event_id=self.event_id,
            event_type=self.event_type,
            subject=_optional_str(self.cloud_event.get("subject")),
            time=_optional_str(self.cloud_event.get("time")),
            event_json=self.event_json,
            prev_hash=prev_hash,
            hash=chain_hash(prev_hash, self.event_json),
        )


class AuditChainContention(RuntimeError):
    """Other writers advanced the head on every one of `APPEND_ATTEMPTS_MAX` attempts.

    A broken dependency, not an outcome: the event goes back to the queue and is retried.
    """


class AuditChain:
    """Appends CloudEvents to, reads and verifies the hash chain in `table_name`."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table_name = table_name
        with _APPEND_LOCKS_GUARD:
            self._append_lock = _APPEND_LOCKS.setdefault(table_name, threading.Lock())
        # The last record this instance wrote or read: the next append starts from it instead of
        # querying for the end of the chain. If another writer moved on meanwhile, the
        # conditional write fails and the end is read again.
        self._last_known: AuditRecord | None = None

    # -- writing ------------------------------------------------------------------------------

    def append(self, cloud_event: dict) -> AuditRecord:
        """Append `cloud_event` once; a redelivered event returns its existing record."""
        return self.append_all([cloud_event])[0]

    def append_all(self, cloud_events: Sequence[dict]) -> list[AuditRecord]:
        """Append each event once, in the order given, and return each one's record (a
        redelivered event's is the one already appended).

        Several events are appended in one transaction (`APPEND_BATCH_MAX` at a time) when
        none of them is in the chain yet and no other writer takes their seqs first, the usual
        case; otherwise each is appended on its own, finding its record or writing it.
        """
        pending: dict[str, _Pending] = {}
        for cloud_event in cloud_events:
            item = _Pending.of(cloud_event)
            pending.setdefault(item.event_id, item)  # an event twice in one batch is one event
        items = list(pending.values())
        records: dict[str, AuditRecord] = {}
        with self._append_lock:
            for chunk in _transactions_of(items):
                together = self._append_together(chunk) if len(chunk) > 1 else {}
                for item in chunk:
                    records[item.event_id] = together.get(item.event_id) or self._append(item)
        return [records[cloud_event["id"]] for cloud_event in cloud_events]

    def _append_together(self, items: Sequence[_Pending]) -> dict[str, AuditRecord]:
        """Append events new to the chain in one transaction; their records by event id, or
        none when the transaction was refused."""
        last = self._last_known or self._last_record()
        if last is not None and any(item.event_id == last.event_id for item in items):
            return {}
        records: list[AuditRecord] = []
        for item in items:
            records.append(item.record_after(records[-1] if records else last))
        if self._write([(record, None) for record in records]):
            self._last_known = None
            return {}
        self._last_known = records[-1]
        return {record.event_id: record for record in records}

    def _append(self, item: _Pending) -> AuditRecord:
        # The seq an existing marker of this event names, once a write has found one.
        claimed: int | None = None
        for attempt in range(1, APPEND_ATTEMPTS_MAX + 1):
            last = self._last_known or self._last_record()
            if last is not None and last.event_id == item.event_id:
                # Appended already: a record written before markers came, or one whose marker
                # and head an interrupted writer of the earlier protocol never wrote.
                self._finish(last)
                if self._put_if_absent(_marker_item(item.event_id, last.seq)):
                    self._put_links(last)
                return last
            record = item.record_after(last)
            refused = self._write([(record, claimed)])
            if not refused:
                self._last_known = record
                return record
            if _MARKER in refused:
                claimed = self._claimed_seq(item.event_id)
                holder = self.record(claimed) if claimed is not None else None
                if holder is not None and holder.event_id == item.event_id:
                    # A redelivery: the event holds its record already.
                    self._finish(holder)
                    return holder
            if _RECORD in refused or _HEAD in refused:
                # Another writer took the seq: read the chain's end again.
                self._last_known = None
            logger.info(
                "audit append of %s refused (%s; attempt %d of %d)",
                item.event_id,
                ", ".join(sorted(refused)),
                attempt,
                APPEND_ATTEMPTS_MAX,
            )
            if attempt < APPEND_ATTEMPTS_MAX:
                longest = min(APPEND_BACKOFF_MAX_SECONDS, APPEND_BACKOFF_BASE_SECONDS * 2**attempt)
                time.sleep(random.uniform(0, longest))  # noqa: S311 - a wait, not a secret
        raise AuditChainContention(f"could not append event {item.event_id} after {APPEND_ATTEMPTS_MAX} attempts")

    def _write(self, records: Sequence[tuple[AuditRecord, int | None]]) -> frozenset[str]:
        """Write each record with its event's marker, and the head at the last record, in one
        transaction; the kinds of item whose condition failed (none when it was written).

        Each marker is new (or still names the seq given with its record: a claim an
        interrupted writer of the earlier protocol left), each record's seq is free, and the
        head only moves forward: all of it or nothing.
        """
        parts: list[tuple[str, dict[str, Any]]] = []
        for record, claimed in records:
            if claimed is None:
                marker_condition: dict[str, Any] = {"ConditionExpression": f"attribute_not_exists({_PARTITION_KEY})"}
            else:
                marker_condition = {
                    "ConditionExpression": "#seq = :claimed",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ExpressionAttributeValues": {":claimed": {"N": str(claimed)}},
                }
            parts.append((_MARKER, {"Item": _marker_item(record.event_id, record.seq), **marker_condition}))
            parts.append(
                (
                    _RECORD,
                    {
                        "Item": _record_item(record),
                        "ConditionExpression": f"attribute_not_exists({_PARTITION_KEY})",
                    },
                )
            )
            # The links carry no condition: they are written if and only if their record is.
            parts.extend((_LINK, {"Item": link}) for link in _link_items(record))
        last = records[-1][0]
        parts.append((_HEAD, {"Item": _head_item(last), **_head_moves_forward(last.seq)}))
        try:
            self._client.transact_write_items(
                TransactItems=[{"Put": {"TableName": self._table_name, **put}} for _, put in parts]
            )
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            refused = frozenset(
                part
                for (part, _), reason in zip(parts, reasons, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            )
            if not refused:
                raise  # cancelled for another reason: a conflict to retry later, or a bug
            return refused
        return frozenset()

    def _put_if_absent(self, item: dict[str, Any]) -> bool:
        """Put `item` unless an item with its key exists; whether it was put."""
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item=item,
                ConditionExpression=f"attribute_not_exists({_PARTITION_KEY})",
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _put_links(self, record: AuditRecord) -> None:
        """Write a record's index links outside a transaction: for a record of the earlier
        protocol, which was appended without them. Putting a link twice changes nothing."""
        for link in _link_items(record):
            self._client.put_item(TableName=self._table_name, Item=link)

    def _claimed_seq(self, event_id: str) -> int | None:
        marker = self._get(_MARKER_PREFIX + event_id, _SINGLETON_SORT_KEY)
        return int(marker["seq"]["N"]) if marker is not None else None

    def _finish(self, record: AuditRecord) -> None:
        """Advance the head to `record` (never backwards)."""
        # Refused when a later record already moved the head past this one.
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item=_head_item(record),
                **_head_moves_forward(record.seq),
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise

    # -- reading ------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The chain's length and last hash (0 and GENESIS_HASH when empty)."""
        return self._head()

    def record(self, seq: int) -> AuditRecord | None:
        """The record at `seq`, if any."""
        item = self._get(_RECORD_PARTITION, seq)
        return _record_from_item(item) if item is not None else None

    def records(self, *, limit: int, after_seq: int | None = None) -> list[AuditRecord]:
        """Up to `limit` records in chain order, starting after `after_seq` (a cursor)."""
        if not 1 <= limit <= RECORDS_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {RECORDS_LIMIT_MAX}")
        return list(self._iter_records(after_seq=after_seq or 0, limit=limit, page_size=limit))

    def records_of_entity(
        self, entity_id: str, *, limit: int, after_seq: int | None = None
    ) -> tuple[list[AuditRecord], bool]:
        """Up to `limit` records that name `entity_id`, in chain order after `after_seq`, and
        whether there are more."""
        return self._records_linked_from(_ENTITY_PREFIX + entity_id, limit=limit, after_seq=after_seq)

    def records_of_day(self, day: date, *, limit: int, after_seq: int | None = None) -> tuple[list[AuditRecord], bool]:
        """Up to `limit` records whose event time falls on the UTC `day`, in chain order after
        `after_seq`, and whether there are more."""
        return self._records_linked_from(_DAY_PREFIX + day.isoformat(), limit=limit, after_seq=after_seq)

    def _records_linked_from(
        self, partition: str, *, limit: int, after_seq: int | None
    ) -> tuple[list[AuditRecord], bool]:
        if not 1 <= limit <= RECORDS_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {RECORDS_LIMIT_MAX}")
        seqs: list[int] = []
        start_key: dict[str, Any] | None = None
        # One more than asked for says whether there is a next page.
        while len(seqs) <= limit:
            request: dict[str, Any] = {
                "TableName": self._table_name,
                "KeyConditionExpression": "#pk = :partition AND #sk > :after",
                "ExpressionAttributeNames": {"#pk": _PARTITION_KEY, "#sk": _SORT_KEY},
                "ExpressionAttributeValues": {
                    ":partition": {"S": partition},
                    ":after": {"N": str(after_seq or 0)},
                },
                "ScanIndexForward": True,
                "ConsistentRead": True,
                "Limit": limit + 1 - len(seqs),
            }
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            response = self._client.query(**request)
            seqs += [int(item[_SORT_KEY]["N"]) for item in response.get("Items", [])]
            start_key = response.get("LastEvaluatedKey")
            if start_key is None:
                break
        has_more = len(seqs) > limit
        return self._records_at(seqs[:limit]), has_more

    def _records_at(self, seqs: Sequence[int]) -> list[AuditRecord]:
        """The records at `seqs`, in that order (BatchGetItem, consistent reads). A link whose
        record is missing is left out: `verify` is what reports a removed record."""
        found: dict[int, AuditRecord] = {}
        for start in range(0, len(seqs), _BATCH_GET_KEYS_MAX):
            keys: list[dict[str, Any]] = [
                {_PARTITION_KEY: {"S": _RECORD_PARTITION}, _SORT_KEY: {"N": str(seq)}}
                for seq in seqs[start : start + _BATCH_GET_KEYS_MAX]
            ]
            for _ in range(_BATCH_GET_ATTEMPTS_MAX):
                response = self._client.batch_get_item(
                    RequestItems={self._table_name: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in response.get("Responses", {}).get(self._table_name, []):
                    record = _record_from_item(item)
                    found[record.seq] = record
                keys = response.get("UnprocessedKeys", {}).get(self._table_name, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise RuntimeError(
                    f"DynamoDB left {len(keys)} audit records unread after {_BATCH_GET_ATTEMPTS_MAX} tries"
                )
        return [found[seq] for seq in seqs if seq in found]

    def verify(self, *, from_seq: int = 1, to_seq: int | None = None) -> ChainVerification:
        """Recompute every hash in order and compare with the stored chain and head.

        A record is broken if its seq is not the next one, its prev_hash is not the previous
        record's hash, its hash is not sha256(prev_hash + stored JSON), or its indexed fields
        (id, type, subject, time) disagree with that JSON. The head is a lower bound: fewer
        records than it names (a truncated chain) breaks at the first missing seq, and the
        record it names must have its hash. Records past the head (appended while verifying,
        or whose head update a crash lost) are verified as links of the chain, up to a page of
        them.

        `from_seq` and `to_seq` verify part of the chain: the links from `from_seq` to `to_seq`
        (inclusive; None: to the end), anchored on the stored hash of the record before
        `from_seq`. The head is checked only when the part reaches it. `length` is then the
        number of records checked.
        """
        if from_seq < 1 or (to_seq is not None and to_seq < from_seq):
            raise ValueError("from_seq must be at least 1 and to_seq at least from_seq")
        head_seq, head_hash = self._head()
        expected_seq = from_seq
        prev_hash = GENESIS_HASH
        if from_seq > 1:
            anchor = self.record(from_seq - 1)
            if anchor is None:
                return ChainVerification(False, head_seq, from_seq - 1, "the record before the range is missing")
            prev_hash = anchor.hash
        hash_at_head: str | None = None
        last_seq = head_seq + VERIFY_PAGE_SIZE if to_seq is None else min(to_seq, head_seq + VERIFY_PAGE_SIZE)
        for record in self._iter_records(
            after_seq=from_seq - 1, limit=max(last_seq - from_seq + 1, 1), page_size=VERIFY_PAGE_SIZE
        ):
            if record.seq != expected_seq:
                return ChainVerification(False, head_seq, expected_seq, "the record is missing")
            problem = _record_problem(record, prev_hash)
            if problem is not None:
                return ChainVerification(False, head_seq, expected_seq, problem)
            prev_hash = record.hash
            if record.seq == head_seq:
                hash_at_head = record.hash
            expected_seq += 1
        # The head is checked when the part verified holds it.
        if from_seq <= head_seq and (to_seq is None or to_seq >= head_seq):
            if expected_seq - 1 < head_seq:
                return ChainVerification(
                    False, head_seq, expected_seq, "the record is missing (the chain is truncated)"
                )
            if hash_at_head != head_hash:
                return ChainVerification(False, head_seq, head_seq, "the head's hash is not its record's")
        if from_seq == 1 and head_seq == 0 and head_hash != GENESIS_HASH:
            return ChainVerification(False, 0, 1, "the head's hash is not its record's")
        return ChainVerification(ok=True, length=expected_seq - from_seq, first_broken_seq=None)

    def _head(self) -> tuple[int, str]:
        item = self._get(_HEAD_PARTITION, _SINGLETON_SORT_KEY)
        if item is None:
            return 0, GENESIS_HASH
        return int(item["seq"]["N"]), item["hash"]["S"]

    def _last_record(self) -> AuditRecord | None:
        response = self._client.query(
            TableName=self._table_name,
            KeyConditionExpression="#pk = :record",
            ExpressionAttributeNames={"#pk": _PARTITION_KEY},
            ExpressionAttributeValues={":record": {"S": _RECORD_PARTITION}},
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        items = response.get("Items", [])
        return _record_from_item(items[0]) if items else None

    def _get(self, partition: str, sort: int) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table_name,
            Key={_PARTITION_KEY: {"S": partition}, _SORT_KEY: {"N": str(sort)}},
            ConsistentRead=True,
        )
        return response.get("Item")

    def _iter_records(self, *, after_seq: int, limit: int, page_size: int) -> Iterator[AuditRecord]:
        returned = 0
        start_key: dict[str, Any] | None = None
        while returned < limit:
            request: dict[str, Any] = {
                "TableName": self._table_name,
                "KeyConditionExpression": "#pk = :record AND #sk > :after",
                "ExpressionAttributeNames": {"#pk": _PARTITION_KEY, "#sk": _SORT_KEY},
                "ExpressionAttributeValues": {
                    ":record": {"S": _RECORD_PARTITION},
                    ":after": {"N": str(after_seq)},
                },
                "ScanIndexForward": True,
                "ConsistentRead": True,
                "Limit": min(page_size, limit - returned),
            }
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            response = self._client.query(**request)
            for item in response.get("Items", []):
                yield _record_from_item(item)
                returned += 1
            start_key = response.get("LastEvaluatedKey")
            if start_key is None:
                return


def _head_item(record: AuditRecord) -> dict[str, Any]:
    return {
        _PARTITION_KEY: {"S": _HEAD_PARTITION},
        _SORT_KEY: {"N": str(_SINGLETON_SORT_KEY)},
        "seq": {"N": str(record.seq)},
        "hash": {"S": record.hash},
    }


def _error_code(error: ClientError) -> str:
    """The service's code of a refused request. Matched by code, not by the client's exception
    classes: botocore builds those lazily per client, and threads that touch a new client at
    once can get two sets of them, so an `except client.exceptions.X` may miss its own X."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _head_moves_forward(seq: int) -> dict[str, Any]:
    """The condition under which the head may point at `seq`: it is behind it, or absent."""
    return {
        "ConditionExpression": f"attribute_not_exists({_PARTITION_KEY}) OR #seq < :seq",
        "ExpressionAttributeNames": {"#seq": "seq"},
        "ExpressionAttributeValues": {":seq": {"N": str(seq)}},
    }


def _marker_item(event_id: str, seq: int) -> dict[str, Any]:
    """The item that says which record holds (or is claimed for) an event."""
    return {
        _PARTITION_KEY: {"S": _MARKER_PREFIX + event_id},
        _SORT_KEY: {"N": str(_SINGLETON_SORT_KEY)},
        "seq": {"N": str(seq)},
    }


def _record_item(record: AuditRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        _PARTITION_KEY: {"S": _RECORD_PARTITION},
        _SORT_KEY: {"N": str(record.seq)},
        "seq": {"N": str(record.seq)},
        "event_id": {"S": record.event_id},
        "event_type": {"S": record.event_type},
        "event": {"S": record.event_json},
        "prev_hash": {"S": record.prev_hash},
        "hash": {"S": record.hash},
    }
    if record.subject is not None:
        item["subject"] = {"S": record.subject}
    if record.time is not None:
        item["time"] = {"S": record.time}
    return item


def _record_from_item(item: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        seq=int(item["seq"]["N"]),
        event_id=item["event_id"]["S"],
        event_type=item["event_type"]["S"],
        subject=item["subject"]["S"] if "subject" in item else None,
        time=item["time"]["S"] if "time" in item else None,
        event_json=item["event"]["S"],
        prev_hash=item["prev_hash"]["S"],
        hash=item["hash"]["S"],
    )


def _record_problem(record: AuditRecord, prev_hash: str) -> str | None:
    """What is wrong with a link, None when it is sound after `prev_hash`."""
    if record.prev_hash != prev_hash:
        return "its prev_hash is not the previous record's hash"
    if record.hash != chain_hash(prev_hash, record.event_json):
        return "its hash is not sha256(prev_hash + its event)"
    try:
        event = json.loads(record.event_json)
    except ValueError:
        return "its event is not JSON"
    sound = (
        isinstance(event, dict)
        and event.get("id") == record.event_id
        and event.get("type") == record.event_type
        and _optional_str(event.get("subject")) == record.subject
        and _optional_str(event.get("time")) == record.time
    )
    return None if sound else "its indexed fields disagree with its event"


def record_is_sound(record: AuditRecord, prev_hash: str) -> bool:
    """Whether a record is a sound link after `prev_hash`."""
    return _record_problem(record, prev_hash) is None


def _index_partitions(cloud_event: dict) -> tuple[str, ...]:
    partitions = [_ENTITY_PREFIX + entity_id for entity_id in entity_ids_of(cloud_event)]
    day = day_of(_optional_str(cloud_event.get("time")))
    if day is not None:
        partitions.append(_DAY_PREFIX + day.isoformat())
    return tuple(partitions)


def _link_items(record: AuditRecord) -> list[dict[str, Any]]:
    """The index links of a record (see the module docstring)."""
    event = json.loads(record.event_json)
    return [
        {_PARTITION_KEY: {"S": partition}, _SORT_KEY: {"N": str(record.seq)}, "seq": {"N": str(record.seq)}}
        for partition in _index_partitions(event)
    ]


def _transactions_of(items: Sequence[_Pending]) -> Iterator[list[_Pending]]:
    """`items` in consecutive chunks that each fit one transaction with the head: at most
    `APPEND_BATCH_MAX` events and `TRANSACT_ITEMS_MAX` items."""
    chunk: list[_Pending] = []
    size = 1  # the head
    for item in items:
        if chunk and (len(chunk) == APPEND_BATCH_MAX or size + item.items_to_append > TRANSACT_ITEMS_MAX):
            yield chunk
            chunk, size = [], 1
        chunk.append(item)
        size += item.items_to_append
    if chunk:
        yield chunk


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
