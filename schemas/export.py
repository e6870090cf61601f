"""Export the contract's generated files from the pydantic models.

``python -m schemas.export`` writes:

- ``schemas/json/<Name>.json``: the JSON Schema of every event payload, of the CloudEvent envelope,
  and of every request and response body (including the two discriminated request unions); an
  event payload's carries as ``$id`` the URI its events name as ``dataschema``;
- ``docs/openapi.json``: the OpenAPI document of :func:`schemas.openapi.build_openapi`;
- the generated table of ``events/README.md`` (between its markers), from the event catalogue;
- the roles matrix of ``docs/operators.md`` (between its markers), from the admin routes.

``python -m schemas.export --check`` writes nothing and exits 1, listing the stale files, when any
committed file differs from a fresh export. The contract tests run the same comparison, so a model
change without a re-export fails CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas import operators
from schemas.api import REQUEST_MODELS, REQUEST_UNIONS, RESPONSE_MODELS
from schemas.cloudevent import CloudEventEnvelope, schema_uri
from schemas.events import EVENT_PAYLOADS
from schemas.openapi import build_openapi

__all__ = [
    "REPO_ROOT",
    "JSON_SCHEMA_DIR",
    "OPENAPI_PATH",
    "EVENTS_README_PATH",
    "OPERATORS_DOC_PATH",
    "README_TABLE_BEGIN",
    "README_TABLE_END",
    "render_json",
    "json_schemas",
    "render_events_readme",
    "render_all",
    "stale_files",
    "write_all",
    "main",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
JSON_SCHEMA_DIR = REPO_ROOT / "schemas" / "json"
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"
EVENTS_README_PATH = REPO_ROOT / "events" / "README.md"
OPERATORS_DOC_PATH = REPO_ROOT / "docs" / "operators.md"
README_TABLE_BEGIN = "<!-- BEGIN GENERATED TABLE: python -m schemas.export -->"
README_TABLE_END = "<!-- END GENERATED TABLE -->"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render_json(document: Any) -> str:
    """The one JSON layout of every generated file: sorted keys, indent 2, trailing newline.

    Sorted keys make the files independent of model field order churn in diffs; the trailing
    newline keeps editors and ``git diff`` quiet.
    """
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every exported model, keyed by file stem (the model's name)."""
    models: list[type[BaseModel]] = [
        *EVENT_PAYLOADS.values(),
        CloudEventEnvelope,
        *REQUEST_MODELS,
        *operators.REQUEST_MODELS,
        *RESPONSE_MODELS,
        *operators.RESPONSE_MODELS,
    ]
    schemas: dict[str, dict[str, Any]] = {}
    for model in models:
        schemas[model.__name__] = model.model_json_schema()
    for model in EVENT_PAYLOADS.values():
        # Where the schema is published: the `dataschema` of every event carrying this payload.
        schemas[model.__name__] = {"$id": schema_uri(model.__name__), **schemas[model.__name__]}
    for name, adapter in REQUEST_UNIONS.items():
        schemas[name] = {"title": name, **adapter.json_schema()}
    if len(schemas) != len(models) + len(REQUEST_UNIONS):
        raise RuntimeError("two exported models share a name; their schema files would collide")
    return {name: {"$schema": JSON_SCHEMA_DIALECT, **schema} for name, schema in schemas.items()}


def _with_table(path: Path, current: str, table: str) -> str:
    """``current`` (the text of ``path``) with the part between its markers replaced by ``table``."""
    begin = current.find(README_TABLE_BEGIN)
    end = current.find(README_TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path} lacks the markers {README_TABLE_BEGIN!r} ... {README_TABLE_END!r}")
    head = current[: begin + len(README_TABLE_BEGIN)]
    return f"{head}\n{table}{current[end:]}"


def render_events_readme(current: str) -> str:
    """``current`` README text with its generated table replaced by the catalogue's."""
    # Imported here: the catalogue package imports schemas, not the other way round.
    from events.catalogue import render_table

    return _with_table(EVENTS_README_PATH, current, render_table())


def render_roles_matrix() -> str:
    """Which operator role may call which admin route, from the routes' own declarations."""
    from schemas.routes import admin

    roles = ("support", "admin", "auditor")
    lines = ["| route | " + " | ".join(roles) + " |", "| --- |" + " --- |" * len(roles)]
    for route in admin.ROUTES.routes:
        marks = ("yes" if role in route.roles else "no" for role in roles)
        lines.append(f"| `{route.method} {route.path}` | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def render_operators_doc(current: str) -> str:
    """``docs/operators.md`` with its roles matrix replaced by the one the routes declare."""
    return _with_table(OPERATORS_DOC_PATH, current, render_roles_matrix())


def render_all() -> dict[Path, str]:
    """Every generated file (absolute path) and the content a fresh export gives it."""
    files = {JSON_SCHEMA_DIR / f"{name}.json": render_json(schema) for name, schema in json_schemas().items()}
    files[OPENAPI_PATH] = render_json(build_openapi())
    files[EVENTS_README_PATH] = render_events_readme(EVENTS_README_PATH.read_text(encoding="utf-8"))
    files[OPERATORS_DOC_PATH] = render_operators_doc(OPERATORS_DOC_PATH.read_text(encoding="utf-8"))
    return files


def _orphans(expected: dict[Path, str]) -> list[Path]:
    # A renamed or removed model leaves its old schema behind; it is stale too.
    if not JSON_SCHEMA_DIR.is_dir():
        return []
    return sorted(p for p in JSON_SCHEMA_DIR.glob("*.json") if p not in expected)


def stale_files() -> list[Path]:
    """Generated files that are missing, differ from a fresh export, or should not exist."""
    expected = render_all()
    stale = [
        path for path, content in expected.items() if not path.is_file() or path.read_text(encoding="utf-8") != content
    ]
    return sorted(stale + _orphans(expected))


def write_all() -> list[Path]:
    """Write every generated file that changed, delete orphans; return what was touched."""
    expected = render_all()
    touched = []
    for path, content in expected.items():
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        touched.append(path)
    for orphan in _orphans(expected):
        orphan.unlink()
        touched.append(orphan)
    return sorted(touched)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the stale files if the export is out of date",
    )
    args = parser.parse_args(argv)

    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
        if stale:
            print("run `python -m schemas.export` and commit the result", file=sys.stderr)
            return 1
        return 0

    for path in write_all():
        print(f"updated: {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
