"""Stopping an audit cleanly: SIGINT and SIGTERM in the audit process (:class:`Stop`), and how many
files a stopped audit left done (:func:`files_committed`).  See :mod:`sigdiag.audit`, "Stopping
cleanly"."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sigdiag.audit.errors import AuditInterrupted
from sigdiag.audit.store import state_files

__all__ = ["Stop", "files_committed"]


class Stop:
    """SIGINT and SIGTERM in the audit process while it runs (installed from the main thread only).

    During the work the first signal asks the workers to stop at their next safe place (between files or
    every 64 messages, never inside a commit) and no more work is handed out; a second one stops them at
    once (SIGKILL: what a crash leaves, which the next run recovers).  Elsewhere (finding the files,
    summarising: nothing is being written) a signal stops the audit at once.  Inside :meth:`deferred`
    (the output folder being written) it waits for the end of the block.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.signum = 0
        self.count = 0
        self.immediate = True
        self.out: Path | None = None
        self.files: list[str] = []
        self._old: dict[int, Any] = {}
        self._since = 0.0
        self._hinted = False

    def __enter__(self) -> Stop:
        import signal
        import threading

        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # ignored by whoever started us (nohup, a background job): left so
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def request(self, signum: int) -> None:
        """Stop as if ``signum`` had come (recorded only)."""
        if not self.signum:
            self.signum = signum
            self._since = time.monotonic()

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.request(signum)
        if self.immediate:
            self.raise_now()

    @property
    def requested(self) -> bool:
        return self.signum != 0

    @property
    def forced(self) -> bool:
        return self.count > 1

    def interrupted(self, forced: bool = False) -> AuditInterrupted:
        out = self.out or Path(".")
        return AuditInterrupted(self.signum, out, files_committed(out, self.files), len(self.files), forced)

    def raise_now(self) -> None:
        self.immediate = True
        raise self.interrupted(self.forced)

    def check(self) -> None:
        if self.signum:
            self.raise_now()

    def waiting(self, stream: TextIO | None = None) -> None:
        """While the workers stop: after 2 s, one line saying so and how to stop them at once."""
        if not self.signum or self.forced or self._hinted or time.monotonic() - self._since < 2.0:
            return
        self._hinted = True
        key = "Ctrl-C" if self.signum == 2 else "the signal"
        with contextlib.suppress(OSError, ValueError):
            print(
                "sigdiag: stopping: waiting for the workers to reach a safe place "
                f"(send {key} again to stop them at once)",
                file=stream or sys.stderr,
                flush=True,
            )

    def working(self) -> _Working:
        return _Working(self)


class _Working:
    """A block in which signals are only recorded (the engine loop polls :attr:`Stop.requested`)."""

    def __init__(self, stop: Stop) -> None:
        self.stop = stop

    def __enter__(self) -> Stop:
        self.stop.immediate = False
        return self.stop

    def __exit__(self, *exc: Any) -> None:
        self.stop.immediate = True


def files_committed(out: Path, files: list[str]) -> int:
    """How many of ``files`` the output folder's states list as done (audited, or skipped as damaged with
    their anomaly rows stored)."""
    wanted = set(files)
    done: set[str] = set()
    for p in state_files(out):
        try:
            st = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        done.update(f["path"] for f in st.get("files", []) if f.get("path") in wanted)
        done.update(path for path in st.get("bad") or {} if path in wanted)  # skipped, its rows stored
    return len(done)
