"""The FX rates file: validated when loaded, refreshed from a (local) ECB endpoint atomically,
left untouched when the source fails; and the platform refuses to start on a broken file."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.adapters.fx_rates import (
    RATES_FILE_DEFAULT,
    FxRatesInvalid,
    FxRefreshFailed,
    RatesSource,
    load_rates,
    parse_ecb_daily,
    refresh_rates,
)
from shared.bootstrap import build_platform
from shared.runner.local import free_port
from shared.settings import ConfigurationError, Settings

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "ecb-eurofxref-daily-2026-10-06.xml"
PAYSTREAM = str(Path(sys.executable).with_name("paystream"))
TODAY = date(2026, 10, 7)


class _Server:
    """A local HTTP server answering GET with a body and status chosen by the test."""

    def __init__(self) -> None:
        self.status, self.body = 200, SAMPLE.read_bytes()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                owner.requests += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/stats/eurofxref/eurofxref-daily.xml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def ecb():
    server = _Server()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def rates_file(tmp_path) -> Path:
    path = tmp_path / "rates.json"
    path.write_bytes(RATES_FILE_DEFAULT.read_bytes())
    return path


def _with(path: Path, **changes) -> Path:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))
    return path


def test_the_recorded_ecb_sample_parses_into_its_date_and_decimal_rates():
    published_on, rates = parse_ecb_daily(SAMPLE.read_bytes())
    assert published_on == date(2026, 10, 6)
    assert rates["USD"] == "1.1269" and rates["JPY"] == "178.15" and rates["GBP"] == "0.84880"
    assert len(rates) == 29


def test_a_refresh_replaces_the_file_with_the_downloaded_rates_and_keeps_the_pegs(ecb, rates_file):
    # GIVEN a rates file of an older day and the ECB endpoint serving the recorded day
    _with(
        rates_file,
        published_on="2026-09-01",
        per_eur={**json.loads(rates_file.read_text())["per_eur"], "USD": "1.0000"},
    )
    # WHEN refreshed
    rates = refresh_rates(rates_file, url=ecb.url, today=TODAY)
    # THEN the file holds the downloaded day, its rates as strings, and the same pegs
    written = json.loads(rates_file.read_text())
    assert written["published_on"] == "2026-10-06" and written["per_eur"]["USD"] == "1.1269"
    assert written["source_url"] == ecb.url
    assert written["pegs"] == json.loads(RATES_FILE_DEFAULT.read_text())["pegs"]
    assert load_rates(rates_file) == rates
    assert [p.name for p in rates_file.parent.iterdir()] == ["rates.json"]  # no temporary left


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, b"maintenance", "HTTP 503"),
        (200, b"<html>not the rates</html>", "one day"),
        (200, b"<not xml", "not XML"),
        (200, SAMPLE.read_bytes().replace(b"rate='178.15'", b"rate='1.7815e2'"), "plain positive decimal"),
        (200, SAMPLE.read_bytes().replace(b"<Cube currency='JPY' rate='178.15'/>", b""), "no rate for JPY"),
        (200, SAMPLE.read_bytes().replace(b"2026-10-06", b"2027-01-01"), "after today"),
        (200, b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>', "not XML"),
    ],
)
def test_a_bad_answer_fails_loudly_and_leaves_the_file_untouched(ecb, rates_file, status, body, reason):
    # GIVEN a valid rates file and an endpoint answering something that is not a day of rates
    before = rates_file.read_bytes()
    ecb.status, ecb.body = status, body
    # WHEN a refresh is attempted
    with pytest.raises(FxRefreshFailed, match=reason):
        refresh_rates(rates_file, url=ecb.url, today=TODAY)
    # THEN the file is exactly as it was
    assert rates_file.read_bytes() == before


def test_an_unreachable_source_fails_and_leaves_the_file_untouched(rates_file):
    before = rates_file.read_bytes()
    with pytest.raises(FxRefreshFailed, match="cannot be reached"):
        refresh_rates(rates_file, url=f"http://127.0.0.1:{free_port()}/daily.xml", today=TODAY)
    assert rates_file.read_bytes() == before


def test_the_refresh_command_writes_the_file_or_exits_non_zero(ecb, rates_file, tmp_path):
    # WHEN `paystream fx refresh --url` runs against the endpoint
    done = subprocess.run(
        [PAYSTREAM, "fx", "refresh", "--url", ecb.url, "--file", str(rates_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it says what it wrote
    assert done.returncode == 0, done.stderr
    assert "2026-10-06" in done.stdout
    # AND against an unreachable source it fails with the reason, and the file is unchanged
    before = rates_file.read_bytes()
    failed = subprocess.run(
        [PAYSTREAM, "fx", "refresh", "--url", f"http://127.0.0.1:{free_port()}/x", "--file", str(rates_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode != 0
    assert "cannot be reached" in failed.stderr and "unchanged" in failed.stderr
    assert rates_file.read_bytes() == before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"per_eur": {"USD": 1.1269}}, "per_eur.USD"),
        ({"published_on": "6 Oct 2026"}, "published_on"),
        ({"base": "USD"}, "base"),
        ({"per_eur": {"USD": "1.1269"}}, "no rate for"),
        ({"pegs": {"reviewed_on": "2026-10-06", "source": "x", "per_usd": {"KWD": "-0.3"}}}, "positive decimal"),
    ],
)
def test_a_broken_rates_file_is_a_configuration_error_naming_the_file(rates_file, change, reason):
    _with(rates_file, **change)
    with pytest.raises(FxRatesInvalid, match=reason) as raised:
        load_rates(rates_file)
    assert str(rates_file) in str(raised.value)
    assert isinstance(raised.value, ConfigurationError)


def test_the_platform_does_not_start_on_a_broken_rates_file(tmp_path):
    broken = tmp_path / "rates.json"
    broken.write_text("{not json")
    settings = Settings(secret_key=secrets.token_urlsafe(48), fx_rates_file=str(broken))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        build_platform(settings)


def test_running_functions_see_a_refreshed_file_without_a_restart(ecb, rates_file):
    # GIVEN a process's rates source on an older file
    _with(rates_file, published_on="2026-09-01")
    source = RatesSource(rates_file)
    assert source.current().published_on == date(2026, 9, 1)
    # WHEN the file is refreshed
    refresh_rates(rates_file, url=ecb.url, today=TODAY)
    # THEN the next read returns the new day
    assert source.current().published_on == date(2026, 10, 6)
