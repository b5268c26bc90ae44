"""structlog set-up: JSON lines when not on a terminal, bound with correlation and event ids."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog

#: One line per kind of warning per window; the next after it says how many were held back.
REPEAT_WINDOW_S = 30.0


class RepeatFilter(logging.Filter):
    """Hold back a warning or error that repeats (a broker away gives thousands of identical
    "Unable connect" lines): the first passes, the rest of its window are counted, and the
    first after the window carries ``repeated``, the number held back."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        msg: Any = record.msg
        template = (
            str(msg.get("event", "")) + str(msg.get("error", ""))
            if isinstance(msg, dict)
            else str(msg)
        )
        key = (record.name, record.levelno, template)
        now = time.monotonic()
        shown_at, held = self._seen.get(key, (float("-inf"), 0))
        if now - shown_at < self.window_s:
            self._seen[key] = (shown_at, held + 1)
            return False
        if len(self._seen) > 1000:  # many distinct lines: forget the old windows
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        self._seen[key] = (now, 0)
        if held:
            record.repeated = held
        return True


def configure_logging(service: str, *, level: str = "INFO", json: bool | None = None) -> None:
    """Route structlog and the standard library's logging through one renderer."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ExtraAdder(allow=["repeated"]),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # FastStream gives its logger a handler of its own (plain text, coloured on a terminal)
    # and stops it from propagating: its lines come through ours, as JSON, instead.
    for own in ("faststream", "faststream.access"):
        logging.getLogger(own).handlers[:] = []
        logging.getLogger(own).propagate = True
    structlog.contextvars.bind_contextvars(service=service)
