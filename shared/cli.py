"""`paystream`: run the platform locally and operate it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from shared.domain.roles import OPERATOR_ROLES
from shared.settings import ConfigurationError, LoggingSettings, load_settings
from shared.topology import ROUTES

__all__ = ["main"]

DEFAULT_HOME = Path("var")


def _up(args: argparse.Namespace) -> None:
    from shared.observability import configure_logging
    from shared.observability.tracing import reexec_traced
    from shared.runner.local import run_embedded, run_services
    from shared.settings import LocalRunSettings

    settings = load_settings(LocalRunSettings)
    services = args.services or settings.mode == "services"
    port = settings.port if args.port is None else args.port
    if not services:
        # One process serves every function: with an agent named, it runs under ddtrace-run.
        reexec_traced("paystream", settings)
    configure_logging(
        environment=settings.service_environment,
        version=settings.service_version,
        level=settings.log_level,
        service=settings.datadog_service,
    )
    if services:
        run_services(host=args.host, port=port, home=args.home, base_port=args.functions_base_port)
    else:
        run_embedded(host=args.host, port=port, home=args.home)


def _migrate(args: argparse.Namespace) -> None:
    from shared.adapters.database import migrate
    from shared.bootstrap import build_platform

    # The platform's own engine: the same pool bounds and TLS as the functions use.
    migrate(build_platform(load_settings()).engine)
    print("database migrated to the latest revision")


def _keys(args: argparse.Namespace) -> None:
    import time

    from shared.runner.local import local_key_files
    from shared.signing import ACCESS_TOKEN_SECONDS_MAX, write_key_files

    signing_path, verification_path = local_key_files(args.home)
    signing_path = args.signing_keys_file or signing_path
    verification_path = args.verification_keys_file or verification_path
    if args.activate_after < 0:
        raise SystemExit("--activate-after must not be negative")
    kid = write_key_files(
        signing_path,
        verification_path,
        now=int(time.time()),
        activate_after_seconds=0 if args.drop_previous else args.activate_after,
        drop_previous=args.drop_previous,
    )
    print(f"{signing_path} and {verification_path} written; new signing key {kid}")
    if args.drop_previous:
        print("every previous key is dropped: access tokens signed before are refused from now on")
    else:
        print(
            f"it signs in {args.activate_after} s; the key it replaces keeps verifying for "
            f"{ACCESS_TOKEN_SECONDS_MAX} s more, until every token it signed has expired"
        )


def _rebuild_projections(args: argparse.Namespace) -> None:
    from shared.bootstrap import build_platform
    from shared.services.projection import rebuild

    with build_platform(load_settings()).engine.begin() as conn:
        replayed = rebuild(conn)
    print(f"transaction history rebuilt from {replayed} events")


def _fx(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from shared.adapters.fx_rates import RATES_FILE_DEFAULT, FxRefreshFailed, refresh_rates
    from shared.settings import FxRatesSettings

    path = Path(args.file or load_settings(FxRatesSettings).fx_rates_file or RATES_FILE_DEFAULT)
    try:
        rates = refresh_rates(path, url=args.url, today=datetime.now(UTC).date())
    except FxRefreshFailed as error:
        raise SystemExit(f"paystream fx refresh: {error}; {path} is unchanged") from None
    print(f"FX rates of {rates.published_on} written to {path}")


def _provision(args: argparse.Namespace) -> None:
    from shared.provision import provision
    from shared.settings import AwsSettings

    aws = load_settings(AwsSettings)
    provision(
        endpoint_url=args.endpoint_url or aws.aws_endpoint_url,
        region=aws.aws_region,
        dynamodb_endpoint_url=args.dynamodb_endpoint_url or aws.dynamodb_endpoint_url,
    )
    print("topology provisioned")


def _users(args: argparse.Namespace) -> None:
    from shared.bootstrap import build_platform
    from shared.clock import utc_now
    from shared.http import ApiError
    from shared.services import operators
    from shared.services.context import EventContext

    # Against the database itself: how the first admin is made. The action is recorded like any
    # operator's, with the command line as its actor; the outbox relay publishes it.
    runtime = build_platform(load_settings())
    change = operators.grant_role if args.action == "grant-role" else operators.revoke_role
    try:
        with runtime.engine.begin() as conn:
            user = operators.user_by_email(conn, args.email, email_index=runtime.email_index)
            change(
                conn,
                user_id=user.id,
                role=args.role,
                actor_id=operators.CLI_ACTOR,
                context=EventContext(producer="admin", now=utc_now(), correlation_id=None),
            )
    except ApiError as error:
        raise SystemExit(f"paystream users {args.action}: {error.message}") from None
    done = "granted to" if args.action == "grant-role" else "revoked from"
    print(f"role {args.role} {done} {args.email} ({user.id})")


def _day(text: str):
    """A `--date` argument: a UTC day written YYYY-MM-DD."""
    from datetime import date

    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _seq(text: str) -> int:
    """A `--from`/`--to` argument: a position in the audit chain, from 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a record position (1 or more)")
    return int(text)


def _audit(args: argparse.Namespace) -> None:
    from shared.bootstrap import build_platform
    from shared.clock import utc_now
    from shared.services import audit

    runtime = build_platform(load_settings())
    if args.action == "archive":
        day = args.date or utc_now().date()
        archived = audit.archive_day(runtime.audit_chain, runtime.archive, day)
        done = "written to" if archived.written else "already in"
        print(f"{archived.records} audit records of {day} {done} s3://{runtime.archive.bucket}/{archived.key}")
        print(f"head hash: {archived.head_hash or '(no records)'}")
        return
    if args.to_seq is not None and args.to_seq < args.from_seq:
        raise SystemExit("paystream audit verify: --to must not be before --from")
    result = audit.verify_chain(runtime.audit_chain, from_seq=args.from_seq, to_seq=args.to_seq, now=utc_now())
    if result.ok:
        print(f"audit chain sound: {result.checked} records checked from {result.from_seq}; head {result.head_seq}")
        print(f"head hash: {result.head_hash}")
        return
    raise SystemExit(
        f"audit chain BROKEN at record {result.first_broken_seq}: {result.reason} (head {result.head_seq})"
    )


def _reports(args: argparse.Namespace) -> None:
    from shared.bootstrap import build_platform
    from shared.services.reconciliation import emit_differences, reconcile_day
    from shared.services.reports import ReportOptions, store_reports

    runtime = build_platform(load_settings())
    if args.reconcile:
        from shared.clock import utc_now

        with runtime.engine.begin() as conn:
            result = reconcile_day(conn, runtime.audit_chain, args.date, now=utc_now())
        emit_differences(result)
        print(
            f"reconciled {args.date}: {result.movements_checked} movements, {len(result.findings)} differences "
            f"({result.recorded} new)"
        )
    options = ReportOptions(runtime.fx_rates.current(), runtime.settings.report_large_transaction_usd)
    with runtime.reader.connect() as conn:
        stored = store_reports(conn, runtime.archive, args.date, options)
    for key, written in stored.items():
        print(f"s3://{runtime.archive.bucket}/{key} {'written' if written else 'unchanged'}")


def _sanctions(args: argparse.Namespace) -> None:
    from shared.bootstrap import build_platform
    from shared.clock import utc_now
    from shared.sanctions import BUNDLED_LIST_DIR
    from shared.services import sanctions

    source = args.source or str(BUNDLED_LIST_DIR)
    try:
        listed = sanctions.load_list(source)
    except (OSError, ValueError) as error:
        raise SystemExit(f"paystream sanctions refresh: {error}; the stored list is unchanged") from None
    with build_platform(load_settings()).engine.begin() as conn:
        sanctions.replace_list(conn, listed, now=utc_now())
    print(f"sanctions list loaded from {source}: {len(listed.entries)} names, {len(listed.countries)} countries")


DLQ_LIST_LIMIT = 50


def _dead_letters():
    from shared.adapters.aws import aws_client
    from shared.dead_letters import DeadLetters
    from shared.settings import AwsSettings

    # Only where the queues are: `paystream dlq` needs no secret key, database or cache.
    settings = load_settings(AwsSettings)
    return DeadLetters(aws_client("sqs", endpoint_url=settings.aws_endpoint_for("sqs"), region=settings.aws_region))


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(value) for value in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _dlq(args: argparse.Namespace) -> None:
    letters = _dead_letters()
    if args.action == "list" and args.consumer is None:
        print(_table(("consumer", "dead letters"), letters.summary()))
    elif args.action == "list":
        rows = [
            (d.message_id, d.event_type or "-", d.event_id or "-", d.receive_count, d.reason[:80])
            for d in letters.peek(args.consumer, limit=args.limit)
        ]
        print(_table(("message id", "event type", "event id", "receives", "reason"), rows))
    elif args.action == "show":
        for letter in letters.peek(args.consumer, limit=args.limit):
            if letter.message_id == args.message_id:
                print(f"consumer: {letter.consumer}\nreason: {letter.reason}\nstatus: {letter.status}")
                print(f"receives: {letter.receive_count}\nbody:\n{letter.body}")
                return
        raise SystemExit(f"no dead letter {args.message_id} among the first {args.limit} of {args.consumer}")
    elif args.action == "redrive":
        moved = letters.redrive(args.consumer, limit=args.limit, message_id=args.message_id)
        print(f"redrove {moved} dead letters to {args.consumer}'s queue")
    elif args.action == "purge":
        if not args.yes:
            raise SystemExit("purge deletes dead letters for good: add --yes")
        print(f"deleted {letters.purge(args.consumer, limit=args.limit)} dead letters of {args.consumer}")


def _mail(args: argparse.Namespace) -> None:
    import os

    from shared.adapters.mail_outbox import MailOutbox
    from shared.runner.local import mail_outbox_file

    # The outbox `paystream up --home HOME` keeps, unless PAYSTREAM_MAIL_OUTBOX_FILE names
    # another: needs no database, cache or secret key.
    path = args.file or os.environ.get("PAYSTREAM_MAIL_OUTBOX_FILE") or mail_outbox_file(args.home)
    mails = MailOutbox(path).latest(args.address, limit=args.limit)
    if not mails:
        print(f"no e-mail to {args.address} in {path}")
        return
    for mail in mails:
        print(f"sent: {mail.sent_at}\nto: {mail.to}\nsubject: {mail.subject}\n\n{mail.text}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paystream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the platform locally")
    # --services and --port fall back on PAYSTREAM_MODE and PAYSTREAM_PORT, read with the rest
    # of `up`'s settings when it runs (a bad value is then a ConfigurationError, as elsewhere).
    up.add_argument(
        "--services",
        action="store_true",
        default=None,
        help="PostgreSQL, Redis, a moto server and one process per function (also PAYSTREAM_MODE=services)",
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=None, help="default: PAYSTREAM_PORT, else 8080")
    up.add_argument(
        "--home",
        type=Path,
        default=DEFAULT_HOME,
        help="where local state lives (the SQLite file, the generated secret key and token keys)",
    )
    up.add_argument(
        "--functions-base-port",
        type=int,
        default=8100,
        help="services mode: the first of the ports the function processes listen on",
    )
    up.set_defaults(run=_up)
    commands.add_parser("migrate", help="migrate PAYSTREAM_DATABASE_URL to the latest schema").set_defaults(
        run=_migrate
    )
    keys = commands.add_parser("keys", help="manage the keys that sign access tokens")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = key_commands.add_parser(
        "rotate",
        help="add a new signing key; the old one keeps verifying until its tokens have expired",
    )
    rotate.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="the local platform's home, whose key files are rotated"
    )
    rotate.add_argument("--signing-keys-file", type=Path, default=None, help="default: HOME/signing-keys.json")
    rotate.add_argument(
        "--verification-keys-file", type=Path, default=None, help="default: HOME/verification-keys.json"
    )
    rotate.add_argument(
        "--activate-after",
        type=int,
        default=0,
        metavar="SECONDS",
        help="the new key signs only after this long: time for every verifier to read its public half "
        "(a Kubernetes Secret mounted as a volume is updated within about a minute: use 120 there)",
    )
    rotate.add_argument(
        "--drop-previous",
        action="store_true",
        help="after a leak: drop every previous key at once, so the tokens they signed are refused "
        "(clients sign in again with their refresh tokens)",
    )
    rotate.set_defaults(run=_keys)
    projections = commands.add_parser(
        "projections", help="rebuild the transaction history from the event store (PAYSTREAM_DATABASE_URL)"
    )
    projections.add_argument("action", choices=("rebuild",))
    projections.set_defaults(run=_rebuild_projections)
    from shared.adapters.fx_rates import ECB_DAILY_URL

    fx = commands.add_parser("fx", help="refresh the FX rates file from the ECB's daily reference rates")
    fx.add_argument("action", choices=("refresh",))
    fx.add_argument("--url", default=ECB_DAILY_URL, help="where to download the ECB daily XML from")
    fx.add_argument(
        "--file",
        default=None,
        help="the rates file to replace (default: PAYSTREAM_FX_RATES_FILE, else the packaged one)",
    )
    fx.set_defaults(run=_fx)
    prov = commands.add_parser("provision", help="create the event topology on an AWS endpoint")
    prov.add_argument(
        "--endpoint-url", default=None, help="default: PAYSTREAM_AWS_ENDPOINT_URL (LocalStack), none for AWS"
    )
    prov.add_argument(
        "--dynamodb-endpoint-url",
        default=None,
        help="DynamoDB's own endpoint (default: PAYSTREAM_DYNAMODB_ENDPOINT_URL)",
    )
    prov.set_defaults(run=_provision)
    users = commands.add_parser("users", help="grant or revoke operator roles (PAYSTREAM_DATABASE_URL)")
    users.add_argument("action", choices=("grant-role", "revoke-role"))
    users.add_argument("email", help="the user's e-mail address")
    users.add_argument("role", choices=sorted(role.value for role in OPERATOR_ROLES))
    users.set_defaults(run=_users)
    audit = commands.add_parser(
        "audit", help="verify the audit hash chain, or export a day of it to the archive bucket"
    )
    audit.add_argument("action", choices=("verify", "archive"))
    audit.add_argument("--from", dest="from_seq", type=_seq, default=1, help="verify: the first record (default 1)")
    audit.add_argument("--to", dest="to_seq", type=_seq, default=None, help="verify: the last record (default: head)")
    audit.add_argument("--date", type=_day, default=None, help="archive: the UTC day, YYYY-MM-DD (default: today)")
    audit.set_defaults(run=_audit)
    reports = commands.add_parser("reports", help="build a day's three reports as CSV into the archive bucket")
    reports.add_argument("action", choices=("build",))
    reports.add_argument("--date", type=_day, required=True, help="the UTC day, YYYY-MM-DD")
    reports.add_argument(
        "--reconcile", action="store_true", help="reconcile the day first, so that its findings are in the report"
    )
    reports.set_defaults(run=_reports)
    sanctions = commands.add_parser(
        "sanctions", help="load the sanctions list (OFAC SDN CSV shape) into PAYSTREAM_DATABASE_URL"
    )
    sanctions.add_argument("action", choices=("refresh",))
    sanctions.add_argument(
        "--from",
        dest="source",
        default=None,
        help="a folder or URL prefix holding sdn.csv, alt.csv and countries.csv (default: the bundled sample)",
    )
    sanctions.set_defaults(run=_sanctions)
    dlq = commands.add_parser("dlq", help="inspect, redrive or purge dead letters (PAYSTREAM_AWS_ENDPOINT_URL)")
    dlq.add_argument("action", choices=("list", "show", "redrive", "purge"))
    dlq.add_argument("message_id", nargs="?", help="show: the message; redrive: only this one")
    dlq.add_argument(
        "--consumer",
        choices=[route.consumer for route in ROUTES],
        help="the consuming function (list without it: a summary of every queue)",
    )
    dlq.add_argument("--limit", type=int, default=DLQ_LIST_LIMIT, help="at most this many messages")
    dlq.add_argument("--yes", action="store_true", help="purge: yes, delete them")
    dlq.set_defaults(run=_dlq)
    mail = commands.add_parser(
        "mail",
        help="show the newest e-mails sent to an address by the local platform (reset links, verification codes)",
    )
    mail.add_argument("address", help="the e-mail address")
    mail.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="the local platform's home, whose mail outbox is read"
    )
    mail.add_argument(
        "--file", default=None, help="the mail outbox file (default: PAYSTREAM_MAIL_OUTBOX_FILE, else HOME/mail.jsonl)"
    )
    mail.add_argument("--limit", type=int, default=5, help="at most this many, newest first (default 5)")
    mail.set_defaults(run=_mail)
    args = parser.parse_args(argv)
    if args.command == "dlq" and args.action != "list" and args.consumer is None:
        parser.error(f"dlq {args.action} needs --consumer")
    if args.command == "dlq" and args.action == "show" and args.message_id is None:
        parser.error("dlq show needs a message id")
    try:
        logging.basicConfig(
            level=load_settings(LoggingSettings).log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        # Alembic lists every plugin it loads at INFO; the migration steps themselves stay visible.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        args.run(args)
    except ConfigurationError as error:
        print(f"paystream: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
