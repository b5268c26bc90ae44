"""``python -m deploy.console [--host H] [--port P]``: serve the operator console."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from deploy.console.app import create_console
from shared.app import load_settings
from shared.logging import configure_logging
from shared.settings import ServiceSettings


def main() -> None:
    """Serve the console until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    args = parser.parse_args()
    settings = load_settings(ServiceSettings)
    configure_logging("console", level=settings.log_level)
    # The HTTP client logs each URL it calls: a person's id is in it, and nothing else should be.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_console(settings), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
