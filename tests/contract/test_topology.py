"""The event catalogue, the topology, the function index and the functions themselves agree."""

from __future__ import annotations

import pytest

from events.catalogue import CATALOGUE
from shared import topology
from shared.functions import FUNCTIONS, function_info, load_module


def test_the_catalogue_and_the_topology_name_the_same_event_types():
    assert set(CATALOGUE) == set(topology.EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_each_event_type_has_the_same_producers_and_consumers_in_both(event_type):
    info = CATALOGUE[event_type]
    assert set(info.producers) == set(topology.producers_of(event_type))
    assert set(info.consumers) == set(topology.consumers_of(event_type))


def test_every_route_and_schedule_delivers_to_an_event_function_and_every_one_is_reached():
    event_functions = {f.name for f in FUNCTIONS if not f.serves_clients}
    reached = {route.consumer for route in topology.ROUTES} | {s.consumer for s in topology.SCHEDULES}
    assert reached == event_functions


def test_only_a_batched_consumer_is_an_http_function_among_the_consumers():
    # functions-framework's CloudEvent binding takes one event per request; a consumer that
    # takes batches (CloudEvents' batched content mode) must be served as an HTTP function.
    for route in topology.ROUTES:
        assert function_info(route.consumer).signature_type == ("http" if route.batched else "cloudevent")


@pytest.mark.parametrize("route", topology.ROUTES, ids=lambda r: r.consumer)
def test_each_function_accepts_exactly_the_event_types_its_queue_receives(route):
    assert frozenset(route.event_types) == load_module(route.consumer).ACCEPTED_TYPES


def test_every_producer_is_a_function_of_the_index():
    names = {f.name for f in FUNCTIONS}
    for event_type in topology.EVENT_TYPES:
        assert set(topology.producers_of(event_type)) <= names, event_type
