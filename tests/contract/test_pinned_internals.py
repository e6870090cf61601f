"""The private internals of pg8000 and moto the platform relies on are where it expects them.

shared/adapters/database.py drives pg8000's protocol methods (named prepared statements,
pipelined Bind/Execute/Sync, the cursor's state) and shared/runner/moto_endpoint.py patches
moto's SQS and DynamoDB backends. Neither is a public API, so both are pinned exactly in
pyproject.toml, and these tests name what an upgrade changed: moving a pin is a deliberate act,
done with these tests and the two modules open. LocalStack runs from its own environment,
configured by variables only; its pins in localstack/ are exact as well.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
import textwrap
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from shared.deploy.common import REPOSITORY_ROOT

DATABASE_MODULE = "shared/adapters/database.py"
MOTO_MODULE = "shared/runner/moto_endpoint.py"
# Distribution → (the pyproject list that pins it, the module that relies on its internals).
PINNED = {
    "pg8000": ("dependencies", DATABASE_MODULE),
    "moto": ("local", MOTO_MODULE),
}
LOCALSTACK_REQUIREMENTS = ("localstack/requirements.txt", "localstack/constraints.txt")


def _resolve(path: str) -> Any:
    """The object at a dotted path: a module, then attributes."""
    parts = path.split(".")
    for index in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:index]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[index:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(path)


def _changed(distribution: str, what: str) -> str:
    version = importlib.metadata.version(distribution)
    relies = PINNED[distribution][1]
    return f"{distribution} {version}: {what}. {relies} relies on it: adapt it before moving the pin in pyproject.toml"


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())


def _assigned_to_self(function: Callable[..., Any]) -> set[str]:
    """The attributes `function` (a method) assigns on `self`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Store)
    }


# -- the pins -----------------------------------------------------------------------------------


def _pinned_version(distribution: str) -> str | None:
    project = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]
    where = PINNED[distribution][0]
    requirements = project["dependencies"] if where == "dependencies" else (project["optional-dependencies"][where])
    for requirement in requirements:
        match = re.fullmatch(rf"{distribution}(\[[^\]]*\])?\s*==\s*([^\s;,]+)", requirement)
        if match:
            return match.group(2)
    return None


@pytest.mark.parametrize("distribution", sorted(PINNED))
def test_the_package_is_pinned_exactly_and_installed_at_its_pin(distribution):
    where, relies = PINNED[distribution]
    pinned = _pinned_version(distribution)
    assert pinned is not None, (
        f"{distribution} is not pinned exactly (==) in pyproject.toml's {where}: {relies} reaches into its internals"
    )
    installed = importlib.metadata.version(distribution)
    assert installed == pinned, (
        f"pyproject.toml pins {distribution} {pinned}, {installed} is installed: "
        "install the project again (make test does)"
    )


@pytest.mark.parametrize("path", LOCALSTACK_REQUIREMENTS)
def test_localstack_s_environment_is_pinned_exactly(path):
    lines = [line.split("#")[0].strip() for line in (REPOSITORY_ROOT / path).read_text().splitlines()]
    loose = [line for line in lines if line and not re.fullmatch(r"[A-Za-z0-9._\-\[\],]+==\S+", line)]
    assert not loose, f"{path}: not pinned exactly: {loose}"
    if path.endswith("requirements.txt"):
        assert any(line.startswith("localstack-core[runtime]==") for line in lines), path


# -- pg8000 -------------------------------------------------------------------------------------

# Each callable database.py calls, with the parameters it passes (by position or by name), in
# order; any further parameter must have a default.
PG8000_CALLABLES = {
    "pg8000.legacy.convert_paramstyle": ("style", "query", "args"),
    "pg8000.legacy.Cursor.__init__": ("self", "connection", "paramstyle"),
    "pg8000.legacy.Connection.prepare_statement": ("self", "statement", "oids"),
    "pg8000.legacy.Connection.close_prepared_statement": ("self", "statement_name_bin"),
    "pg8000.legacy.Connection.send_QUERY": ("self", "sql"),
    "pg8000.legacy.Connection.send_BIND": ("self", "statement_name_bin", "params"),
    "pg8000.legacy.Connection.send_EXECUTE": ("self",),
    "pg8000.legacy.Connection.handle_messages": ("self", "context"),
    "pg8000.legacy.Connection.execute_simple": ("self", "statement"),
    "pg8000.converters.make_params": ("py_types", "values"),
    "pg8000.core._write": ("sock", "d"),
    "pg8000.core._flush": ("sock",),
    "pg8000.core.Context.__init__": ("self", "statement", "stream", "columns", "input_funcs"),
}
MOTO_CALLABLES = {
    "moto.sqs.models.SQSBackend.get_queue_attributes": ("self", "queue_name", "attribute_names"),
    "moto.sqs.models.SQSBackend.get_queue": ("self", "queue_name"),
    "moto.core.utils.unix_time_millis": ("dt",),
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": ("self", "transact_items"),
    "moto.dynamodb.models.DynamoDBBackend.get_table": ("self", "table_name"),
    "moto.dynamodb.models.DynamoDBBackend.get_item": ("self", "table_name", "keys"),
    "moto.dynamodb.models.DynamoDBBackend.put_item": ("self", "table_name", "item_attrs"),
    "moto.dynamodb.models.DynamoDBBackend.delete_item": ("self", "table_name", "key"),
    "moto.dynamodb.models.dynamo_type.Item.to_json": ("self",),
    "moto.server.main": ("argv",),
}


@pytest.mark.parametrize(
    ("distribution", "path", "expected"),
    [("pg8000", path, expected) for path, expected in PG8000_CALLABLES.items()]
    + [("moto", path, expected) for path, expected in MOTO_CALLABLES.items()],
    ids=[*PG8000_CALLABLES, *MOTO_CALLABLES],
)
def test_the_callables_relied_on_take_the_same_parameters(distribution, path, expected):
    try:
        function = _resolve(path)
    except (AttributeError, ModuleNotFoundError):
        pytest.fail(_changed(distribution, f"{path} is gone"), pytrace=False)
    parameters = _parameters(function)
    found = tuple(p.name for p in parameters[: len(expected)])
    further = [
        p.name
        for p in parameters[len(expected) :]
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert found == expected and not further, _changed(
        distribution, f"{path} takes ({', '.join(p.name for p in parameters)}), not ({', '.join(expected)})"
    )


def test_pg8000_s_cursor_keeps_the_state_sqlalchemy_reads():
    cursor = _resolve("pg8000.legacy.Cursor")(None, paramstyle="named")
    missing = [name for name in ("_c", "_context", "_row_iter", "paramstyle") if not hasattr(cursor, name)]
    assert not missing, _changed("pg8000", f"Cursor no longer has {missing}")


def test_pg8000_s_connection_keeps_its_socket_and_transaction_state():
    connection = _resolve("pg8000.legacy.Connection")
    core = _resolve("pg8000.core.CoreConnection")
    missing = {"_sock", "_usock", "py_types", "_transaction_status"} - _assigned_to_self(core.__init__)
    missing |= {"autocommit"} - _assigned_to_self(connection.__init__)
    assert not missing, _changed("pg8000", f"the connection no longer sets {sorted(missing)}")
    # Both sockets become None once the connection is closed: database.py tests for that.
    closing = _assigned_to_self(core.close)
    assert {"_sock", "_usock"} <= closing, _changed("pg8000", "close() no longer clears the sockets")
    assert isinstance(inspect.getattr_static(connection, "_in_transaction"), property), _changed(
        "pg8000", "Connection._in_transaction is no longer a property"
    )


def test_pg8000_prepares_a_statement_as_name_columns_and_input_functions():
    source = textwrap.dedent(inspect.getsource(_resolve("pg8000.legacy.Connection.prepare_statement")))
    returns = [node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Return)]
    assert len(returns) == 1 and isinstance(returns[0], ast.Tuple) and len(returns[0].elts) == 3, _changed(
        "pg8000", "prepare_statement() no longer returns (name, columns, input_funcs)"
    )


def test_pg8000_s_context_and_sync_message_are_as_database_py_uses_them():
    core = _resolve("pg8000.core")
    assert core.SYNC_MSG == b"S\x00\x00\x00\x04", _changed("pg8000", "core.SYNC_MSG is not Sync")
    reading = core.Context("SELECT 1", columns=[], input_funcs=[])
    assert reading.rows == [] and core.Context("BEGIN").rows is None, _changed(
        "pg8000", "Context.rows is no longer [] with columns and None without"
    )


def test_pg8000_raises_the_dbapi_errors_database_py_maps():
    dbapi = _resolve("pg8000.dbapi")
    for name in ("Error", "DatabaseError", "InterfaceError", "ProgrammingError", "IntegrityError"):
        assert isinstance(getattr(dbapi, name, None), type), _changed("pg8000", f"dbapi.{name} is gone")
    assert issubclass(dbapi.IntegrityError, dbapi.DatabaseError)
    assert issubclass(dbapi.ProgrammingError, dbapi.DatabaseError)


# -- moto ---------------------------------------------------------------------------------------


def test_moto_s_queue_keeps_the_fields_the_cheap_attributes_read():
    from shared.runner.moto_endpoint import CHEAP_ATTRIBUTES

    queue_class = _resolve("moto.sqs.models.Queue")
    queue = queue_class("probe.fifo", region="us-east-1", account_id="123456789012", FifoQueue="true")
    missing = [field for field in (*CHEAP_ATTRIBUTES.values(), "fifo_queue", "_messages") if not hasattr(queue, field)]
    assert not missing, _changed("moto", f"sqs Queue no longer has {missing}")
    assert "ContentBasedDeduplication" in queue_class.FIFO_ATTRIBUTES, _changed(
        "moto", "Queue.FIFO_ATTRIBUTES no longer names ContentBasedDeduplication"
    )
    for count in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages_delayed",
    ):
        assert isinstance(inspect.getattr_static(queue_class, count, None), property), _changed(
            "moto", f"Queue.{count} is not a property"
        )


def test_moto_s_message_keeps_the_times_the_counts_compare():
    missing = {"visible_at", "delayed_until"} - _assigned_to_self(_resolve("moto.sqs.models.Message.__init__"))
    assert not missing, _changed("moto", f"sqs Message no longer sets {sorted(missing)}")


def test_moto_s_dynamodb_transactions_copy_tables_through_its_copy_module():
    import copy

    models = _resolve("moto.dynamodb.models")
    assert getattr(models, "copy", None) is copy or type(models.copy).__name__ == "TablesNotCopied", _changed(
        "moto", "moto.dynamodb.models no longer imports the copy module as `copy`"
    )
    source = textwrap.dedent(inspect.getsource(models.DynamoDBBackend.transact_write_items))
    deep_copies = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "deepcopy"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "copy"
    ]
    assert deep_copies, _changed("moto", "transact_write_items no longer backs tables up with copy.deepcopy")
    assert "tables" in _assigned_to_self(models.DynamoDBBackend.__init__), _changed(
        "moto", "DynamoDBBackend no longer keeps `tables`"
    )


def test_moto_s_table_names_its_key_attributes():
    missing = {"hash_key_attr", "range_key_attr"} - _assigned_to_self(
        _resolve("moto.dynamodb.models.table.Table.__init__")
    )
    assert not missing, _changed("moto", f"dynamodb Table no longer sets {sorted(missing)}")
