"""The committed knative/ and terraform/topology.json are exactly what the declaration renders."""

from __future__ import annotations

import json

import yaml

from shared import topology
from shared.deploy.common import GENERATED_HEADER, REPOSITORY_ROOT
from shared.deploy.render import render_all
from shared.functions import FUNCTIONS


def test_rendering_again_changes_no_committed_file():
    files = render_all()
    stale = sorted(
        str(path.relative_to(REPOSITORY_ROOT))
        for path, text in files.items()
        if not path.exists() or path.read_text() != text
    )
    assert not stale, f"run `python -m shared.deploy.render` and commit: {stale}"


def test_no_generated_file_is_left_over_from_an_older_declaration():
    files = set(render_all())
    leftovers = sorted(
        str(path.relative_to(REPOSITORY_ROOT))
        for path in (REPOSITORY_ROOT / "knative").rglob("*.yaml")
        if path not in files
    )
    assert not leftovers, f"files under knative/ that the declaration does not produce: {leftovers}"
    for path in files:
        if path.suffix == ".yaml":
            assert path.read_text().startswith(GENERATED_HEADER), path


def test_no_generated_yaml_has_an_anchor_or_an_alias():
    for path, text in render_all().items():
        if path.suffix != ".yaml":
            continue
        for event in yaml.parse(text):
            assert event.start_mark is not None
            where = f"{path.relative_to(REPOSITORY_ROOT)}: line {event.start_mark.line + 1}"
            assert not isinstance(event, yaml.AliasEvent), where
            assert getattr(event, "anchor", None) is None, where


def test_the_terraform_data_describes_every_route_of_the_topology():
    data = json.loads((REPOSITORY_ROOT / "terraform" / "topology.json").read_text())
    assert data["bus_name"] == topology.BUS_NAME
    assert data["eventbridge_target_dlq_name"] == topology.EVENTBRIDGE_TARGET_DLQ_NAME
    assert set(data["routes"]) == set(topology.CONSUMERS)
    for route in topology.ROUTES:
        rendered = data["routes"][route.consumer]
        assert rendered["queue_name"] == route.queue_name
        assert rendered["queue_name"].endswith(".fifo")
        assert rendered["dlq_name"] == route.dlq_name
        assert rendered["dlq_name"].endswith(".fifo")
        assert rendered["rule_names"] == [rule.rule_name for rule in route.rules]
        for rule in route.rules:
            rendered_rule = data["rules"][rule.rule_name]
            assert rendered_rule["consumer"] == route.consumer
            assert rendered_rule["target_id"] == rule.target_id
            assert rendered_rule["message_group_id"] == rule.message_group_id
            assert json.loads(rendered_rule["event_pattern"]) == rule.event_pattern
        assert rendered["max_receive_count"] == route.max_receive_count
        assert rendered["visibility_timeout_seconds"] == route.visibility_timeout_seconds
    assert len(data["rules"]) == sum(len(route.rules) for route in topology.ROUTES)
    assert data["sns_topics"] == dict(topology.SNS_TOPICS)
    assert data["audit_table_name"] == topology.AUDIT_TABLE_NAME
    assert set(data["functions"]) == {function.name for function in FUNCTIONS}
    assert set(data["schedules"]) == {schedule.consumer for schedule in topology.SCHEDULES}
