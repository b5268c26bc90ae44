"""The installed ``shebao`` command: Ctrl-C while its modules load (about a second) ends
quietly with exit code 130, not a traceback; ``deploy.exits.run`` then puts Python's own
handler back for the command itself."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """Load the command, then run it."""
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    from deploy.cli import main as run

    run()
