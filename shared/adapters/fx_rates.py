"""The FX rates file: loaded and validated at start, reloaded when it changes, refreshed from the
European Central Bank by `paystream fx refresh`.

The file (`shared/fx/rates.json` by default, `PAYSTREAM_FX_RATES_FILE` otherwise) holds the ECB's
euro foreign exchange reference rates of one day, as decimal strings, with their date and source,
and the currencies the ECB does not quote as pegs per US dollar with the date they were last
reviewed. A file that does not parse, misses a supported currency or carries a float is a
configuration error, named with the file and the problem.

A refresh downloads the ECB's daily XML, validates it, keeps the pegs, and replaces the file
atomically (a temporary file in the same folder, then a rename): a reader sees the old file or
the new one, never half of one. A source that cannot be reached or answers nonsense fails loudly
and leaves the file as it was.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import requests
from defusedxml import ElementTree
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from shared.domain.fx import BASE_CURRENCY, ExchangeRates, parse_rate
from shared.domain.money import CURRENCY_EXPONENTS
from shared.settings import ConfigurationError

__all__ = [
    "ECB_DAILY_URL",
    "RATES_FILE_DEFAULT",
    "RATES_DOWNLOAD_BYTES_MAX",
    "RATES_DOWNLOAD_TIMEOUT_SECONDS",
    "FxRatesInvalid",
    "FxRefreshFailed",
    "RatesSource",
    "load_rates",
    "parse_ecb_daily",
    "refresh_rates",
]

logger = logging.getLogger("paystream.fx")

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
ECB_SOURCE = "European Central Bank, euro foreign exchange reference rates"
RATES_FILE_DEFAULT = Path(__file__).resolve().parent.parent / "fx" / "rates.json"
# The daily file is about 2 KB; anything near this bound is not the ECB's file.
RATES_DOWNLOAD_BYTES_MAX = 256 * 1024
RATES_DOWNLOAD_TIMEOUT_SECONDS = 15
_ECB_NAMESPACE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
_CURRENCIES_MAX = 100

_Code = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class FxRatesInvalid(ConfigurationError):
    """The rates file (or a downloaded document) is not a usable set of rates."""


class FxRefreshFailed(Exception):
    """The rates could not be refreshed; the file was left untouched."""


class _Pegs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reviewed_on: date
    source: StrictStr
    per_usd: dict[_Code, StrictStr]

    @field_validator("reviewed_on", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return date.fromisoformat(value) if isinstance(value, str) else value


class _RatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    base: Literal["EUR"]
    published_on: date
    source: StrictStr
    source_url: StrictStr
    per_eur: Annotated[dict[_Code, StrictStr], Field(max_length=_CURRENCIES_MAX)]
    pegs: _Pegs

    @field_validator("published_on", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return date.fromisoformat(value) if isinstance(value, str) else value


def _exchange_rates(document: Any, origin: str) -> ExchangeRates:
    """Validate a rates document (the decoded JSON) into ExchangeRates, or FxRatesInvalid."""
    try:
        parsed = _RatesFile.model_validate(document)
        rates = ExchangeRates(
            published_on=parsed.published_on,
            source=parsed.source,
            ecb_per_eur={code: parse_rate(text) for code, text in parsed.per_eur.items()},
            pegs_per_usd={code: parse_rate(text) for code, text in parsed.pegs.per_usd.items()},
            pegs_reviewed_on=parsed.pegs.reviewed_on,
        )
    except (ValidationError, ValueError, TypeError) as error:
        raise FxRatesInvalid(f"FX rates in {origin} are invalid: {error}") from None
    missing = sorted(set(CURRENCY_EXPONENTS) - set(rates.per_eur()))
    if missing:
        raise FxRatesInvalid(f"FX rates in {origin} have no rate for {', '.join(missing)}")
    return rates


def load_rates(path: Path) -> ExchangeRates:
    """Read and validate the rates file, or raise FxRatesInvalid naming the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FxRatesInvalid(f"FX rates file {path} cannot be read: {error}") from None
    return _exchange_rates(document, str(path))


def parse_ecb_daily(xml_bytes: bytes) -> tuple[date, dict[str, str]]:
    """The date and rates (code → decimal text per euro) of the ECB's daily XML.

    Raises FxRatesInvalid for a document of any other shape.
    """
    try:
        root = ElementTree.fromstring(xml_bytes)
    except Exception as error:  # noqa: BLE001 - defusedxml raises its own errors for entities and bombs
        raise FxRatesInvalid(f"the ECB document is not XML: {error}") from None
    days = [cube for cube in root.iter(f"{_ECB_NAMESPACE}Cube") if cube.get("time")]
    if len(days) != 1:
        raise FxRatesInvalid(f"the ECB daily document must hold one day, it holds {len(days)}")
    day = days[0]
    try:
        published_on = date.fromisoformat(day.get("time", ""))
    except ValueError:
        raise FxRatesInvalid(f"the ECB document's date {day.get('time')!r} is not a date") from None
    rates: dict[str, str] = {}
    for cube in day.findall(f"{_ECB_NAMESPACE}Cube"):
        code, rate = cube.get("currency"), cube.get("rate")
        if code is None or rate is None:
            raise FxRatesInvalid("an ECB rate line lacks its currency or rate")
        if code in rates:
            raise FxRatesInvalid(f"the ECB document quotes {code} twice")
        rates[code] = rate
    if not rates:
        raise FxRatesInvalid("the ECB document quotes no currency")
    return published_on, rates


def _download(url: str) -> bytes:
    try:
        with requests.get(url, timeout=RATES_DOWNLOAD_TIMEOUT_SECONDS, stream=True) as answer:
            if answer.status_code != 200:
                raise FxRefreshFailed(f"{url} answered HTTP {answer.status_code}")
            body = answer.raw.read(RATES_DOWNLOAD_BYTES_MAX + 1, decode_content=True)
    except requests.RequestException as error:
        raise FxRefreshFailed(f"{url} cannot be reached: {error}") from None
    if len(body) > RATES_DOWNLOAD_BYTES_MAX:
        raise FxRefreshFailed(f"{url} sent more than {RATES_DOWNLOAD_BYTES_MAX} bytes")
    return body


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def refresh_rates(path: Path, *, url: str = ECB_DAILY_URL, today: date) -> ExchangeRates:
    """Download the ECB's daily rates, validate them and replace the file at `path` atomically.

    The pegs are kept from the current file (or the packaged one when `path` does not exist
    yet). Raises FxRefreshFailed, leaving the file untouched, when the source cannot be reached
    or sends anything but a valid, not future-dated set of rates.
    """
    path = Path(path)
    current = path if path.exists() else RATES_FILE_DEFAULT
    try:
        pegs = json.loads(current.read_text(encoding="utf-8"))["pegs"]
        load_rates(current)
    except (OSError, ValueError, KeyError, FxRatesInvalid) as error:
        raise FxRefreshFailed(f"the current rates file {current} is not valid to refresh: {error}") from None
    try:
        published_on, per_eur = parse_ecb_daily(_download(url))
    except FxRatesInvalid as error:
        raise FxRefreshFailed(f"{url}: {error}") from None
    if (published_on - today).days > 1:
        raise FxRefreshFailed(f"{url} sent rates dated {published_on}, after today ({today})")
    document = {
        "base": BASE_CURRENCY,
        "published_on": published_on.isoformat(),
        "source": ECB_SOURCE,
        "source_url": url,
        "per_eur": dict(sorted(per_eur.items())),
        "pegs": pegs,
    }
    try:
        rates = _exchange_rates(document, url)
    except FxRatesInvalid as error:
        raise FxRefreshFailed(str(error)) from None
    _write_atomically(path, json.dumps(document, indent=2) + "\n")
    return rates


class RatesSource:
    """The rates of one process: loaded (and validated) when built, reloaded when the file
    changes, so that a refresh reaches running functions without a restart."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._rates = load_rates(self._path)

    @property
    def path(self) -> Path:
        return self._path

    def _file_stamp(self) -> tuple[int, int]:
        try:
            status = self._path.stat()
        except OSError as error:
            raise FxRatesInvalid(f"FX rates file {self._path} cannot be read: {error}") from None
        return status.st_mtime_ns, status.st_size

    def current(self) -> ExchangeRates:
        """The rates as the file holds them now; FxRatesInvalid if it became unusable."""
        stamp = self._file_stamp()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._rates = load_rates(self._path)
                    self._stamp = stamp
                    logger.info("FX rates reloaded from %s (%s)", self._path, self._rates.published_on)
        return self._rates
