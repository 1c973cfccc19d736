"""The errors an audit raises to its caller: bad input or an output folder that cannot be written
(:class:`AuditError`), and a stop by a signal after saving its state (:class:`AuditInterrupted`)."""

from __future__ import annotations

from pathlib import Path

from sigdiag.audit.store import StoreError

__all__ = ["AuditError", "AuditInterrupted", "store_failed"]


class AuditError(Exception):
    """A usage or input error, or an output folder that cannot be written (the command line prints it on
    one line and exits with code 2)."""


class AuditInterrupted(Exception):
    """The audit was stopped by a signal (SIGINT, SIGTERM) after saving its state: every file committed
    stays, nothing half-written is visible, and the same command resumes it.  The command line prints
    :meth:`line` and exits with 128 + ``signum`` (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, out: Path, done: int, total: int, forced: bool = False) -> None:
        super().__init__(signum, out, done, total, forced)
        self.signum = signum
        self.out = out
        self.done = done
        self.total = total
        self.forced = forced

    @property
    def name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self, command: str | None = None) -> str:
        how = "workers stopped at once" if self.forced else "workers stopped cleanly"
        again = f"run again: {command}" if command else "run the same command again"
        done = (
            f"{self.done} of {self.total} files done and saved in {self.out}"
            if self.total
            else "before any file was audited"
        )
        return f"audit interrupted by {self.name} ({how}): {done}; to resume, {again}"

    def __str__(self) -> str:
        return self.line()


def store_failed(exc: StoreError, out: Path) -> AuditError:
    """The error of the audit process for an output folder that cannot be written (:class:`StoreError`)."""
    return AuditError(
        f"{exc}; the results stored so far in {out} are intact and readable; free some space or make the "
        "folder writable, then run the same command again to resume"
    )
