"""Log lines: every one JSON, and a warning that repeats is one line with a count."""

from __future__ import annotations

import io
import json
import logging
import time

import structlog

from shared.logging import RepeatFilter, configure_logging


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _logging_to(window_s: float = 0.2) -> io.StringIO:
    """The services' logging set-up, its lines captured (repeats held back ``window_s``)."""
    import faststream.kafka  # noqa: F401  (FastStream sets its logger up on import)

    stream = io.StringIO()
    configure_logging("test", json=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    handler.filters[:] = [RepeatFilter(window_s=window_s)]
    return stream


def test_a_repeating_warning_is_one_line_then_one_with_the_count() -> None:
    stream = _logging_to(window_s=0.2)
    broker = logging.getLogger("aiokafka.conn")
    for _ in range(1000):
        broker.error("Unable connect to node with id %s: %s", 1, "refused")
        structlog.get_logger("shared.http").warning("dependency_unavailable", error="OSError")
    logging.getLogger("shared.other").warning("another kind")
    logging.getLogger("faststream").error("Exception in handler", exc_info=ValueError("x"))
    time.sleep(0.25)
    broker.error("Unable connect to node with id %s: %s", 1, "refused")

    lines = _lines(stream)  # every line is JSON, or this fails
    unable = [line for line in lines if str(line["event"]).startswith("Unable connect")]
    assert [line.get("repeated") for line in unable] == [None, 999]
    assert [line["event"] for line in lines].count("dependency_unavailable") == 1
    assert any(line["event"] == "another kind" for line in lines)
    assert any(line["logger"] == "faststream" and "exception" in line for line in lines)


def test_information_is_never_held_back() -> None:
    stream = _logging_to()
    for _ in range(5):
        logging.getLogger("shared.runtime").info("service_started")
    assert len(_lines(stream)) == 5
