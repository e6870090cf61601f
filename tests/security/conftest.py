"""Security tests run every function through its real functions-framework binding, on the same
throwaway platform as tests/functions (a SQLite file, the in-process cache, a moto endpoint)."""

from __future__ import annotations

from tests.functions.conftest import client_of, moto_endpoint_in_process, runtime

__all__ = ["client_of", "moto_endpoint_in_process", "runtime"]
