"""Write the JSON Schemas of the envelope and every payload, and the AsyncAPI document, to
shared/contracts/schemas.

``python -m shared.contracts.export`` regenerates them; a test fails when the committed files
differ from the code, so a contract never changes by accident.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts import json_schemas
from shared.contracts.asyncapi import specification
from shared.envelope import Envelope

SCHEMAS = Path(__file__).parent / "schemas"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every schema, as committed."""
    schemas: dict[str, dict[str, Any]] = {"Envelope": Envelope.model_json_schema()}
    schemas.update(json_schemas())
    files = {f"{name}.json": schema for name, schema in schemas.items()}
    files["asyncapi.json"] = specification()
    return {
        name: json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        for name, data in files.items()
    }


def main() -> None:
    """Rewrite the committed schemas from the code."""
    SCHEMAS.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (SCHEMAS / name).write_text(text)
        print(f"wrote {SCHEMAS / name}")


if __name__ == "__main__":
    main()
