"""How the ``shebao`` command ends: its exit codes, and every fault of the stack it talks to
as one line that says what to do, never a traceback (``SHEBAO_DEBUG=1`` shows it).

Exit codes (README, "For operators"):

- 0: done.
- 1: the command ran and the answer is no (a service not ready, a refused import, failed
  journeys).
- 2: the command line or an input file is wrong (an unknown option or choice, a bad file).
- 3: ``shebao rebuild`` found the live state differed from the log (it now follows the log).
- 4: the stack cannot be reached (Kafka, PostgreSQL or a service does not answer).
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import asyncpg
import httpx
from aiokafka.errors import KafkaConnectionError, KafkaError

from deploy.state import errors

OK, NO, USAGE, DIFFERED, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 130

_UNREACHABLE: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    ConnectionError,
    httpx.TransportError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    TimeoutError,
)


def shebao_version() -> str:
    """The installed package's version."""
    try:
        return version("shebao")
    except PackageNotFoundError:
        return "unknown (not installed)"


def run(app: Callable[[], object]) -> None:
    """Run the command; a fault of the stack ends it with one line and exit code 4, anything
    unexpected with one line and exit code 1."""
    # The Kafka client logs each failed connection; the one line below says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except _UNREACHABLE as exc:
        _debug()
        errors.print(
            f"[red]The stack does not answer ({_what(exc)}). Is it running? "
            "`shebao status` shows each part; `shebao up --detach` starts it.[/]"
        )
        sys.exit(UNREACHABLE)
    except (KafkaError, asyncpg.PostgresError) as exc:
        _debug()
        errors.print(f"[red]The stack refused: {_what(exc)}.[/]")
        sys.exit(UNREACHABLE)
    except OSError as exc:  # a file here: not the stack's fault
        _debug()
        errors.print(f"[red]{_what(exc)}.[/]")
        sys.exit(NO)
    except Exception as exc:
        _debug()
        errors.print(
            f"[red]shebao failed: {_what(exc)}. SHEBAO_DEBUG=1 shows where; please report it.[/]"
        )
        sys.exit(NO)


def _what(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    text = text.removeprefix(f"{name}: ")
    return f"{name}: {text}" if text else name


def _debug() -> None:
    if os.environ.get("SHEBAO_DEBUG") == "1":
        errors.print_exception()
