"""SIGINT and SIGTERM during training: both save a checkpoint at the last completed step.

``docker stop``, a SLURM preemption or ``kill PID`` send SIGTERM, which by default ends the
process at once and loses every step since the last checkpoint. :func:`terminate_as_interrupt`
turns it into :class:`Terminated`, a ``KeyboardInterrupt``, so the Ctrl-C path of the loop
saves and re-raises; :func:`defer_interrupts` holds both signals while an update is applied.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["Terminated", "terminate_as_interrupt", "defer_interrupts"]

_HELD = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM received: handled like Ctrl-C (checkpoint, then exit with status 143)."""

    signum = int(signal.SIGTERM)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"terminated by signal {signum}")


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def defer_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the handlers that
    were in place (so an optimiser update is never half applied)."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in _HELD}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)
