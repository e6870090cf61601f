"""`paystream`: run the platform locally and operate it."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from shared.settings import ConfigurationError

__all__ = ["main"]

DEFAULT_HOME = Path("var")


def _up(args: argparse.Namespace) -> None:
    from shared.runner.local import run_embedded, run_services

    if args.services:
        run_services(host=args.host, port=args.port, home=args.home, base_port=args.functions_base_port)
    else:
        run_embedded(host=args.host, port=args.port, home=args.home)


def _migrate(args: argparse.Namespace) -> None:
    from shared.adapters.database import migrate
    from shared.bootstrap import build_platform
    from shared.settings import load_settings

    # The platform's own engine: the same pool bounds and TLS as the functions use.
    migrate(build_platform(load_settings()).engine)
    print("database migrated to the latest revision")


def _provision(args: argparse.Namespace) -> None:
    from shared.provision import provision

    provision(endpoint_url=args.endpoint_url or os.environ.get("PAYSTREAM_AWS_ENDPOINT_URL"))
    print("topology provisioned")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paystream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the platform locally")
    up.add_argument("--services", action="store_true",
                    default=os.environ.get("PAYSTREAM_MODE") == "services",
                    help="PostgreSQL, Redis, a moto server and one process per function "
                         "(also PAYSTREAM_MODE=services)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=int(os.environ.get("PAYSTREAM_PORT", "8080")))
    up.add_argument("--home", type=Path, default=DEFAULT_HOME,
                    help="where local state lives (the SQLite file, the generated secret key)")
    up.add_argument("--functions-base-port", type=int, default=8100,
                    help="services mode: the first of the ports the function processes listen on")
    up.set_defaults(run=_up)
    commands.add_parser("migrate", help="migrate PAYSTREAM_DATABASE_URL to the latest schema").set_defaults(run=_migrate)
    prov = commands.add_parser("provision", help="create the event topology on an AWS endpoint")
    prov.add_argument("--endpoint-url", default=None)
    prov.set_defaults(run=_provision)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("PAYSTREAM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Alembic lists every plugin it loads at INFO; the migration steps themselves stay visible.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        args.run(args)
    except ConfigurationError as error:
        print(f"paystream: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
