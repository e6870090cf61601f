"""The local ways to run Paystream: the SQS deliverer and the scheduler (embedded and services).

`shared.runner.deliverer` stands in for Knative's IntegrationSource and PingSource: it moves
CloudEvents from the SQS queues of `shared.topology` to the functions' functions-framework
bindings, over HTTP or straight into their WSGI apps.
"""

from shared.runner.deliverer import (
    Deliverer,
    DeliveryStats,
    HttpTransport,
    QueueEndpoints,
    Scheduler,
    Transport,
    WsgiTransport,
    to_binary_http,
)

__all__ = [
    "Deliverer",
    "DeliveryStats",
    "HttpTransport",
    "QueueEndpoints",
    "Scheduler",
    "Transport",
    "WsgiTransport",
    "to_binary_http",
]
