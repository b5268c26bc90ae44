"""Integrators can trust the contract across releases: every event version of every release is
still published, and still compatible both ways with what the code writes now (a schema
registry's BACKWARD and FORWARD rules, applied to JSON Schema)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import json_schemas
from shared.contracts.compat import backward, compatible, forward
from shared.contracts.export import RELEASED

RELEASES = sorted(p for p in RELEASED.iterdir() if p.is_dir())


def released(release: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name.removesuffix(".json"): json.loads(p.read_text()) for p in release.glob("*.v*.json")
    }


def test_a_release_is_kept() -> None:
    assert [r.name for r in RELEASES][:1] == ["0.1.0"]
    assert released(RELEASES[0]), "the first release's schemas are kept"


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.name)
def test_every_released_event_version_is_still_published_and_compatible(release: Path) -> None:
    now = json_schemas()
    problems = {
        name: ["no longer published"] if name not in now else compatible(schema, now[name])
        for name, schema in released(release).items()
    }
    assert {name: found for name, found in problems.items() if found} == {}


# What each kind of change to a real event does (CardActivated v1: strings, an enum, a default,
# a nullable date-time).
def card_activated() -> dict[str, Any]:
    return copy.deepcopy(json_schemas()["CardActivated.v1"])


def test_an_optional_field_added_passes_both_ways() -> None:
    new = card_activated()
    new["properties"]["terminal_id"] = {"type": "string", "description": "POS terminal."}
    assert compatible(card_activated(), new) == []


def test_a_required_field_added_breaks_reading_old_events() -> None:
    new = card_activated()
    new["properties"]["terminal_id"] = {"type": "string"}
    new["required"].append("terminal_id")
    assert backward(card_activated(), new) == [
        "terminal_id: required by the reader, not always written"
    ]
    assert forward(card_activated(), new) == []


def test_a_field_removed_breaks_integrators_reading_it() -> None:
    new = card_activated()
    del new["properties"]["operator"]
    new["required"].remove("operator")
    assert forward(card_activated(), new) == [
        "operator: required by the reader, not always written"
    ]


def test_a_type_changed_or_narrowed_breaks() -> None:
    new = card_activated()
    new["properties"]["card_id"] = {"type": "integer"}
    assert "BACKWARD card_id: type ['string'] is not read as ['integer']" in compatible(
        card_activated(), new
    )
    nullable = card_activated()["properties"]["effective_at"]
    assert nullable["anyOf"][1] == {"type": "null"}
    new = card_activated()
    new["properties"]["effective_at"] = nullable["anyOf"][0]  # no longer nullable
    assert backward(card_activated(), new) == [
        "effective_at: type ['null'] is not read as ['string']"
    ]
    new = card_activated()
    new["properties"]["card_id"]["maxLength"] = 64
    assert backward(card_activated(), new) == ["card_id: maxLength 64 is below the writer's None"]


def test_an_enum_narrowed_or_widened_breaks_one_way() -> None:
    channels = card_activated()["properties"]["channel"]["enum"]
    fewer, more = card_activated(), card_activated()
    fewer["properties"]["channel"]["enum"] = channels[:-1]
    more["properties"]["channel"]["enum"] = [*channels, "post_office"]
    assert backward(card_activated(), fewer) == [f"channel: {channels[-1:]!r} written, not read"]
    assert forward(card_activated(), more) == ["channel: ['post_office'] written, not read"]


def test_a_field_renamed_breaks_both_ways() -> None:
    new = card_activated()
    new["properties"]["operator_name"] = new["properties"].pop("operator")
    new["required"] = ["operator_name" if f == "operator" else f for f in new["required"]]
    assert compatible(card_activated(), new) == [
        "BACKWARD operator_name: required by the reader, not always written",
        "FORWARD operator: required by the reader, not always written",
        "KEPT operator: declared before, no longer",
    ]


def test_an_optional_field_dropped_breaks_the_promise_of_the_version() -> None:
    new = card_activated()
    del new["properties"]["effective_at"]
    assert compatible(card_activated(), new) == ["KEPT effective_at: declared before, no longer"]


def test_bounds_of_numbers_and_lists_are_kept() -> None:
    old = {"type": "object", "properties": {"n": {"type": "integer"}, "l": {"type": "array"}}}
    new = copy.deepcopy(old)
    new["properties"]["n"]["exclusiveMinimum"] = 5
    new["properties"]["l"]["maxItems"] = 1
    assert backward(old, new) == [
        "n: exclusiveMinimum 5 is above the writer's None",
        "l: maxItems 1 is below the writer's None",
    ]


def test_the_envelope_of_each_release_is_the_envelope_now() -> None:
    from shared.contracts.export import rendered

    now = json.loads(rendered()["Envelope.json"])
    for release in RELEASES:
        kept_then = json.loads((release / "Envelope.json").read_text())
        assert compatible(kept_then, now) == [], release.name


def test_a_reader_of_version_1_reads_what_a_family_holder_caused() -> None:
    """Version 2 of an event a family holder caused is version 1 and the holder: a reader
    that knows version 1 may read version 2 records as they are (the guide says so)."""
    from shared.contracts import ON_BEHALF

    schemas = json_schemas()
    for v1, v2 in ON_BEHALF.items():
        old = schemas[f"{v1.event_type}.v{v1.schema_version}"]
        new = schemas[f"{v2.event_type}.v{v2.schema_version}"]
        assert forward(old, new) == [], v1.event_type
