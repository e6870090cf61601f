"""Pydantic models of Paystream's contract, and their exported JSON Schema.

- :mod:`schemas.api`: request and response bodies of the public HTTP contract.
- :mod:`schemas.events`: the payload (CloudEvent ``data``) of every event type.
- :mod:`schemas.cloudevent`: the CloudEvent envelope, and helpers to build and parse one.
- :mod:`schemas.openapi`: the OpenAPI 3.1 document of the HTTP contract, from a route table.
- :mod:`schemas.export`: ``python -m schemas.export [--check]`` writes ``schemas/json/`` and
  ``docs/openapi.json`` (and the table in ``events/README.md``) from the models.

Submodules are imported on demand, so that a function pays only for the schemas it uses.
"""

__all__ = ["api", "cloudevent", "events", "export", "openapi"]
