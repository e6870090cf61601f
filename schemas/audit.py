"""Request and response models of the audit side of `/v1/admin/...`: an entity's audit
records, the verification of the hash chain, and the regulatory reports' query.

The reports themselves are CSV (shared.domain.reports), described in the OpenAPI document as
text.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.api import IDENTIFIER_LENGTH_MAX, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, UtcDatetime, _Request, _Response

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "ArchiveDayRequest",
    "ArchiveQuery",
    "ArchivedObject",
    "DayArchive",
    "AuditQuery",
    "AuditRecordList",
    "AuditRecordResponse",
    "AuditVerification",
    "AuditVerifyQuery",
    "ReportQuery",
]

_Seq = Annotated[int, Field(ge=1, le=2**53)]


class AuditQuery(BaseModel):
    """Query of `GET /v1/admin/audit`: an entity's records, in chain order, a page at a time."""

    model_config = _Request.model_config

    entity_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=IDENTIFIER_LENGTH_MAX,
            description="A payment (`pay_…`, whose review decisions name it too), a user (`usr_…`), "
            "a KYC document (`kyd_…`) or any other id an event names.",
        ),
    ]
    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT_MAX, description="How many records to return (1 to 100).")] = (
        PAGE_LIMIT_DEFAULT
    )
    starting_after: Annotated[
        _Seq | None, Field(description="A cursor: the seq of the last record of the previous page.")
    ] = None


class AuditRecordResponse(_Response):
    """One record of the audit chain, with its position: `hash` = sha256(`prev_hash` + `event_json`)."""

    seq: int = Field(description="The record's position in the chain (1 is the first).")
    hash: str
    prev_hash: str
    event_id: str
    event_type: str
    subject: str | None
    time: str | None
    event_json: str = Field(description="The event exactly as hashed (canonical JSON).")
    event: dict[str, Any] = Field(description="The same event, parsed.")


class AuditRecordList(_Response):
    data: list[AuditRecordResponse]
    has_more: bool


class AuditVerifyQuery(BaseModel):
    """Query of `GET /v1/admin/audit/verify`: the whole chain, or the records `from` to `to`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_seq: Annotated[
        _Seq, Field(alias="from", description="The first record to check (default 1), anchored on the one before.")
    ] = 1
    to_seq: Annotated[_Seq | None, Field(alias="to", description="The last record to check (default: the head).")] = (
        None
    )

    @model_validator(mode="after")
    def _in_order(self) -> AuditVerifyQuery:
        if self.to_seq is not None and self.to_seq < self.from_seq:
            raise ValueError("to must not be before from")
        return self


class AuditVerification(_Response):
    """The outcome of walking the hash chain."""

    ok: bool
    from_seq: int = Field(description="The first record checked.")
    to_seq: int | None = Field(description="The last record asked for; null: the head.")
    checked: int = Field(description="Records whose links were recomputed (when ok).")
    head_seq: int = Field(description="The chain's length as its head records it.")
    head_hash: str
    first_broken_seq: int | None = Field(description="The first link that does not hold; null when ok.")
    reason: str | None = Field(description="What is wrong with that link.")
    verified_at: UtcDatetime


def _day(value: Any) -> Any:
    """A day written YYYY-MM-DD, nothing else: pydantic alone would also read "20261205" or a
    number of seconds as a date, and a report or an export names its day one way."""
    if isinstance(value, str):
        if len(value) != len("YYYY-MM-DD"):
            raise ValueError("must be a date written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date written YYYY-MM-DD") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


Day = Annotated[dt.date, BeforeValidator(_day), Field(description="A UTC day, YYYY-MM-DD.")]


class ReportQuery(BaseModel):
    """Query of `GET /v1/admin/reports/{kind}`: the UTC day the report covers."""

    model_config = _Request.model_config

    date: Day


class ArchiveDayRequest(_Request):
    """Body of `POST /v1/admin/archive`: the UTC day to archive now."""

    date: Day


class ArchiveQuery(BaseModel):
    """Query of `GET /v1/admin/archive`: the UTC day whose archive to show."""

    model_config = _Request.model_config

    date: Day


class ArchivedObject(_Response):
    """One object of a day's archive in the archive bucket."""

    kind: str = Field(description="`audit` (the chain's export) or a report's kind.")
    key: str
    sha256: str = Field(description="SHA-256 of the object's bytes, as its metadata records it.")
    records: int | None = Field(description="Audit records in the export; null for a report.")
    head_hash: str | None = Field(
        description="The chain's head hash as of the day's last record (empty for a day without records); "
        "null for a report."
    )
    written: bool | None = Field(description="Whether this call wrote it (false: it was there, identical).")


class DayArchive(_Response):
    """A day's archive: the audit export and the three reports, where they are kept."""

    date: dt.date
    bucket: str
    objects: list[ArchivedObject]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    AuditQuery,
    AuditVerifyQuery,
    ReportQuery,
    ArchiveDayRequest,
    ArchiveQuery,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    AuditRecordResponse,
    AuditRecordList,
    AuditVerification,
    ArchivedObject,
    DayArchive,
)
