"""The Datadog dashboards, as data: business, technical, infrastructure (Kubernetes and AWS)
and security. `shared.deploy.render` writes them to terraform/modules/datadog/dashboards/,
where `datadog_dashboard_json` resources read them; every metric they query is in the
catalogue (tests/unit/test_metrics_catalogue.py)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DASHBOARDS", "dashboard_files", "queried_metrics"]

# Every query is scoped to one environment: Terraform replaces this template variable's default.
ENV = "$env"


def _timeseries(title: str, *queries: str, display: str = "line") -> dict[str, Any]:
    return {
        "definition": {
            "type": "timeseries",
            "title": title,
            "requests": [{"q": query, "display_type": display} for query in queries],
        }
    }


def _value(title: str, query: str, *, precision: int = 0) -> dict[str, Any]:
    return {
        "definition": {
            "type": "query_value",
            "title": title,
            "precision": precision,
            "requests": [{"q": query, "aggregator": "sum"}],
        }
    }


def _top(title: str, query: str) -> dict[str, Any]:
    return {"definition": {"type": "toplist", "title": title, "requests": [{"q": query}]}}


def _dashboard(title: str, description: str, widgets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "layout_type": "ordered",
        "template_variables": [{"name": "env", "prefix": "env", "default": "*"}],
        "widgets": widgets,
    }


def _payments(status: str) -> str:
    return f"sum:paystream.payments{{{ENV},status:{status}}}.as_count()"


DASHBOARDS: dict[str, dict[str, Any]] = {
    "business": _dashboard(
        "Paystream: business",
        "Payments, money moved, fraud decisions and conversion.",
        [
            _timeseries(
                "Payments by status", f"sum:paystream.payments{{{ENV}}} by {{status}}.as_count()", display="bars"
            ),
            _timeseries(
                "Payments by currency", f"sum:paystream.payments{{{ENV}}} by {{currency}}.as_count()", display="bars"
            ),
            _value(
                "Success rate (completed / finished)",
                f"{_payments('completed')} / ({_payments('completed')} + {_payments('failed')}"
                f" + {_payments('declined')})",
                precision=3,
            ),
            _timeseries(
                "Accept → completed, p50 and p95 (s)",
                f"p50:paystream.payments.completion_time{{{ENV}}}",
                f"p95:paystream.payments.completion_time{{{ENV}}}",
            ),
            _timeseries(
                "Volume by currency (minor units)",
                f"sum:paystream.payments.volume{{{ENV}}} by {{currency}}.as_count()",
                display="bars",
            ),
            _timeseries("Top-ups by status", f"sum:paystream.topups{{{ENV}}} by {{status}}.as_count()", display="bars"),
            _timeseries(
                "Top-up volume by currency (minor units)",
                f"sum:paystream.topups.volume{{{ENV}}} by {{currency}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Fee revenue by currency (minor units)",
                f"sum:paystream.fees.revenue{{{ENV}}} by {{currency}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Refunds by status", f"sum:paystream.refunds{{{ENV}}} by {{status}}.as_count()", display="bars"
            ),
            _timeseries(
                "Refund volume by currency (minor units)",
                f"sum:paystream.refunds.volume{{{ENV}}} by {{currency}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Conversions by pair",
                f"sum:paystream.conversions{{{ENV}}} by {{from_currency,to_currency}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Withdrawals by status", f"sum:paystream.withdrawals{{{ENV}}} by {{status}}.as_count()", display="bars"
            ),
            _timeseries(
                "Withdrawal volume by currency (minor units)",
                f"sum:paystream.withdrawals.volume{{{ENV}}} by {{currency}}.as_count()",
                display="bars",
            ),
            _value(
                "Sign-up → first payment conversion",
                f"sum:paystream.users.first_payment{{{ENV}}}.as_count() / "
                f"sum:paystream.users.signed_up{{{ENV}}}.as_count()",
                precision=3,
            ),
            _timeseries(
                "Sign-ups by country",
                f"sum:paystream.users.signed_up{{{ENV}}} by {{country}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Fraud decisions", f"sum:paystream.fraud.decisions{{{ENV}}} by {{decision}}.as_count()", display="bars"
            ),
            _timeseries("Fraud score p95 by decision", f"p95:paystream.fraud.score{{{ENV}}} by {{decision}}"),
        ],
    ),
    "technical": _dashboard(
        "Paystream: technical",
        "Latency and errors by route, handlers by function, the database pool and the queues.",
        [
            _timeseries(
                "Requests by status class",
                f"sum:paystream.http.requests{{{ENV}}} by {{status_class}}.as_count()",
                display="bars",
            ),
            _top("5xx by route", f"sum:paystream.http.requests{{{ENV},status_class:5xx}} by {{route}}.as_count()"),
            _top("4xx by route", f"sum:paystream.http.requests{{{ENV},status_class:4xx}} by {{route}}.as_count()"),
            _timeseries(
                "Latency p95 by route (s)", f"max:paystream.http.request.duration.95percentile{{{ENV}}} by {{route}}"
            ),
            _timeseries(
                "Handler duration p95 by function (s)",
                f"max:paystream.function.duration.95percentile{{{ENV}}} by {{service}}",
            ),
            _timeseries(
                "Handler failures by function",
                f"sum:paystream.function.failures{{{ENV}}} by {{service}}.as_count()",
                display="bars",
            ),
            _timeseries(
                "Database pool: in use and waiting",
                f"max:paystream.database.pool.in_use{{{ENV}}} by {{service}}",
                f"max:paystream.database.pool.waiting{{{ENV}}} by {{service}}",
            ),
            _timeseries(
                "Database connection errors",
                f"sum:paystream.database.connection_errors{{{ENV}}} by {{service}}.as_count()",
                display="bars",
            ),
            _timeseries("Queue depth", f"max:paystream.queue.depth{{{ENV},queue_kind:queue}} by {{queue}}"),
            _timeseries("Dead-letter queue depth", f"max:paystream.queue.depth{{{ENV},queue_kind:dlq}} by {{queue}}"),
            _timeseries(
                "Oldest message age (s)",
                f"max:paystream.queue.oldest_message_age{{{ENV}}} by {{queue}}",
                "max:aws.sqs.approximate_age_of_oldest_message{*} by {queuename}",
            ),
            _timeseries(
                "AWS requests by operation (the bill's unit)",
                f"sum:paystream.aws.requests{{{ENV}}} by {{aws_service,operation}}.as_count()",
                display="bars",
            ),
        ],
    ),
    "infrastructure": _dashboard(
        "Paystream: infrastructure",
        "The functions' pods on Kubernetes, the RDS database, the Redis nodes and SQS.",
        [
            _timeseries("CPU by function (nanocores)", f"sum:kubernetes.cpu.usage.total{{{ENV}}} by {{kube_service}}"),
            _timeseries("Memory by function", f"sum:kubernetes.memory.usage{{{ENV}}} by {{kube_service}}"),
            _timeseries("Container restarts", f"sum:kubernetes.containers.restarts{{{ENV}}} by {{kube_service}}"),
            _timeseries(
                "Available pods by revision",
                f"sum:kubernetes_state.deployment.replicas_available{{{ENV}}} by {{kube_deployment}}",
            ),
            _timeseries("RDS connections", "max:aws.rds.database_connections{*} by {dbinstanceidentifier}"),
            _timeseries("RDS CPU (%)", "max:aws.rds.cpuutilization{*} by {dbinstanceidentifier}"),
            _timeseries("Redis CPU (%)", "max:aws.elasticache.cpuutilization{*} by {cacheclusterid}"),
            _timeseries("SQS visible messages", "max:aws.sqs.approximate_number_of_messages_visible{*} by {queuename}"),
        ],
    ),
    "security": _dashboard(
        "Paystream: security",
        "Failed logins, refresh-token reuse, authorization denials and rate limiting.",
        [
            _timeseries(
                "Security events by kind",
                f"sum:paystream.security.events{{{ENV}}} by {{kind}}.as_count()",
                display="bars",
            ),
            _value("Failed logins", f"sum:paystream.security.events{{{ENV},kind:login_failed}}.as_count()"),
            _value(
                "Refresh-token reuse", f"sum:paystream.security.events{{{ENV},kind:refresh_token_reuse}}.as_count()"
            ),
            _value(
                "Authorization denials", f"sum:paystream.security.events{{{ENV},kind:authorization_denied}}.as_count()"
            ),
            _value("Rate-limited requests", f"sum:paystream.security.events{{{ENV},kind:rate_limited}}.as_count()"),
            _top(
                "401 and 403 by route",
                f"sum:paystream.http.requests{{{ENV},status_class:4xx}} by {{route,status}}.as_count()",
            ),
            _timeseries(
                "High-risk fraud decisions",
                f"sum:paystream.fraud.decisions{{{ENV},risk:high}} by {{decision}}.as_count()",
                display="bars",
            ),
        ],
    ),
}


def queried_metrics(text: str) -> set[str]:
    """The metric names in Datadog queries found in `text` (`sum:paystream.payments{...}`,
    `p95:...`, `max:aws.sqs....`), without the histogram suffixes DogStatsD adds."""
    import re

    names = set(re.findall(r"\b(?:sum|avg|max|min|p50|p75|p90|p95|p99|count):([a-z_][a-z0-9_.]*)\{", text))
    suffixes = (".95percentile", ".avg", ".median", ".max", ".count")
    return {next((n[: -len(s)] for s in suffixes if n.endswith(s)), n) for n in names}


def dashboard_files() -> dict[str, str]:
    """terraform/-relative path → the dashboard's JSON."""
    return {
        f"modules/datadog/dashboards/{name}.json": json.dumps(dashboard, indent=2) + "\n"
        for name, dashboard in DASHBOARDS.items()
    }
