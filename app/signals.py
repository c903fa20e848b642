"""The long-running commands' stop: SIGTERM or SIGINT ends them after the work in flight."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def stop_on_signals() -> tuple[asyncio.Event, Callable[[], None]]:
    """An event set by SIGTERM or SIGINT, and the function that removes its handlers."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)

    def restore() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return stop, restore
