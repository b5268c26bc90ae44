"""Examples of the events as they were really published: the latest record (key, headers,
value) of each event version, taken from the topics of a running stack after ``shebao demo``.

``python -m shared.contracts.examples [BOOTSTRAP]`` takes them again (the local stack's Kafka by
default) and writes ``examples.json``; the AsyncAPI document shows them beside each message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from shared.kafka import read_topic
from shared.topics import EVENTS_TOPIC

EXAMPLES = Path(__file__).parent / "examples.json"


def load() -> dict[str, dict[str, Any]]:
    """``<EventType>.v<version>`` -> {key, headers, value} of a real record."""
    if not EXAMPLES.exists():
        return {}
    found: dict[str, dict[str, Any]] = json.loads(EXAMPLES.read_text())
    return found


async def capture(bootstrap: str) -> dict[str, dict[str, Any]]:
    """The latest record of each event version on the four events topics."""
    examples: dict[str, dict[str, Any]] = {}
    for topic in EVENTS_TOPIC.values():
        for record in await read_topic(bootstrap, topic):
            headers = {k: v.decode() for k, v in record.headers or ()}
            name = f"{headers.get('event_type')}.v{headers.get('schema_version')}"
            if record.value:
                examples[name] = {
                    "topic": topic,
                    "key": (record.key or b"").decode(),
                    "headers": headers,
                    "value": json.loads(record.value),
                }
    return dict(sorted(examples.items()))


def main() -> None:
    """Take the examples from a running stack and write them."""
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    examples = asyncio.run(capture(bootstrap))
    EXAMPLES.write_text(json.dumps(examples, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(examples)} examples to {EXAMPLES}")


if __name__ == "__main__":
    main()
