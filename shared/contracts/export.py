"""Write the JSON Schemas of the envelope and every payload, and the AsyncAPI document, to
shared/contracts/schemas.

``python -m shared.contracts.export`` regenerates them; a test fails when the committed files
differ from the code, so a contract never changes by accident.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts import ALL_EVENTS, JSON_SCHEMA_DIALECT, json_schemas
from shared.contracts.asyncapi import envelope_of, specification
from shared.envelope import Envelope, record_schema_uri

SCHEMAS = Path(__file__).parent / "schemas"
#: The schemas of every release, as integrators received them: never changed, never removed.
RELEASED = Path(__file__).parent / "released"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every schema, as committed."""
    envelope = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "urn:shebao:schema:Envelope",
        **Envelope.model_json_schema(),
    }
    schemas: dict[str, dict[str, Any]] = {"Envelope": envelope}
    schemas.update(json_schemas())
    files = {f"{name}.json": schema for name, schema in schemas.items()}
    # What a record's value is (the envelope and this payload): its CloudEvents dataschema.
    for event in ALL_EVENTS:
        files[f"{event.event_type}.v{event.schema_version}.record.json"] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": record_schema_uri(event.event_type, event.schema_version),
            **envelope_of(event).model_json_schema(),
        }
    files["asyncapi.json"] = specification()
    return {
        name: json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        for name, data in files.items()
    }


def release(version: str) -> Path:
    """Keep the event schemas of a release for good (``released/<version>/``): every later
    change is checked against them (``shared.contracts.compat``)."""
    folder = RELEASED / version
    if folder.exists():
        raise SystemExit(f"release {version} is kept already: a release never changes")
    folder.mkdir(parents=True)
    for name, text in rendered().items():
        if name != "asyncapi.json":
            (folder / name).write_text(text)
    return folder


def main(argv: list[str] | None = None) -> None:
    """Rewrite the committed schemas from the code; ``--release V`` also keeps them as V's."""
    args = sys.argv[1:] if argv is None else argv
    SCHEMAS.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (SCHEMAS / name).write_text(text)
        print(f"wrote {SCHEMAS / name}")
    if args[:1] == ["--release"] and len(args) == 2:
        print(f"kept {release(args[1])}")


if __name__ == "__main__":
    main()
