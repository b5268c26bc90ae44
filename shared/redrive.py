"""Dead letters and redrives: the headers a parked record and an operator's decision carry,
and which redrives a group applies (only the very record found at its source)."""

from __future__ import annotations

from collections.abc import Collection

from aiokafka.structs import ConsumerRecord

from shared.kafka import Kafka, read_at

DEAD_LETTER_REASON_HEADER = "dead_letter_reason"
#: On a dead-letter topic, an operator's decision about a parked record (``shebao
#: dead-letters``): ``redrive`` (a copy of the record, applied again by its group) or ``skip``.
DEAD_LETTER_ACTION_HEADER = "dead_letter_action"
SOURCE_HEADERS = ("source_topic", "source_partition", "source_offset")
#: Why a redrive was not applied: it is not the record its source headers name.
REDRIVE_REFUSED = "redrive refused: not the record found at its source"


async def genuine_redrive(
    record: ConsumerRecord[bytes, bytes], kafka: Kafka, topics: Collection[str]
) -> bool:
    """Whether a redrive carries the very record found at its source, on a topic the group
    reads. A dead-letter topic takes the operator's decisions, so whoever may write there could
    otherwise make the group apply an event its producer never wrote; the source topic only
    its owner writes."""
    headers = dict(record.headers or ())
    try:
        topic = headers["source_topic"].decode()
        partition = int(headers["source_partition"])
        offset = int(headers["source_offset"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return False
    if topic not in topics:
        return False
    source = await read_at(kafka, topic, partition, offset)
    return source is not None and source.value == record.value and source.key == record.key


def is_redrive(record: ConsumerRecord[bytes, bytes]) -> bool:
    """A record an operator gave back to its group from the dead letters."""
    return dict(record.headers or ()).get(DEAD_LETTER_ACTION_HEADER) == b"redrive"


def ref_of(record: ConsumerRecord[bytes, bytes]) -> str:
    """Where a record is: topic:partition:offset."""
    return f"{record.topic}:{record.partition}:{record.offset}"


def is_parking_header(header: str) -> bool:
    """A header the dead-letter machinery adds (not the producer's)."""
    return header.startswith("dead_letter_") or header in SOURCE_HEADERS
