"""Batch audits of trunk call-loss rates over many rotated capture files (``sigdiag audit``).

:func:`run_audit` finds capture files, groups them into *capture points* (:mod:`sigdiag.audit.discover`),
processes the points in parallel — a local process pool, or a Dask cluster (``engine="dask"``;
:mod:`sigdiag.audit.engines`), one point per task (:mod:`sigdiag.audit.worker`) — stores
call records and findings as Parquet under ``out`` (:mod:`sigdiag.audit.tables`) and summarises KPIs per
trunk and time bucket with alerts (:mod:`sigdiag.audit.summary`).  :func:`report` summarises again from
the stored results.

Design
------

**Stitching.**  The files of one capture point are read in time order (first record's time stamp, then
name) through *one* :class:`~sigdiag.calls.correlate.Correlator` and *one* rule
:class:`~sigdiag.rules.engine.Engine`: a call whose IAM is in one file and whose REL is in the next is one
call, exactly as if the files were one capture; the correlator is closed (calls still open written with
outcome ``unknown``) only after the point's last file.

**Parallel within a point** (:mod:`sigdiag.audit.parts`; docs/design/parallel-point.md).  With several
workers the runner cuts each capture point into parts of consecutive files (its share of the workers, by
estimated cost), a large file cut inside at a frame both neighbours turn into the same cut
(:class:`sigdiag.calls.parts.Cut`: a piece decodes its file from the start and correlates from the cut).
The point's task reads its first part as above; each later part is read by a task of its own from an
empty correlator (its head log: the messages of circuits whose state it cannot know), and the point's
task merges the parts in time order (:func:`sigdiag.calls.parts.merge`): the head log replayed into the
true state at the part's timer runs, every anchored circuit checked idle there, the rules' verdicts
accepted in one correlator's order (:meth:`sigdiag.rules.engine.Engine.accept`), then one commit per part
as per file (a part that ends inside a file is held, and committed with the part that reads the file's
end: commits are of whole files).  What the merge cannot prove equal is read again by the point's task,
file by file (a *fallback*, counted).  A part nobody has started is read by the point's task itself (no
worker waits while there is work).  Calls are numbered by their IAM's position in the point (file number
x 10^12 + frame x 10^3 + index in the frame): the same numbers whoever reads which part.

**Commit per file.**  After each file the worker (:func:`sigdiag.audit.worker.process_point`) commits:

1. the call and finding rows finished during the file are written as Parquet parts staged under ``_staging/``
   (``_staging/...``, outside the table folders: no reader sees them), fsync'ed;
2. a *snapshot* of the correlator and the engine (their run-time state: open calls, parked messages,
   timers, windows of the windowed rules, counters; pickled) is written atomically;
3. the point's state file ``_state/<point>.json`` is replaced atomically (temp file, fsync, rename).  It
   lists the files done (content hash), the committed parts, the pending renames (staged -> final) and
   the snapshot.  **This rename is the commit point.**
4. the parts are renamed to their final names, and the previous snapshot is deleted.

A crash before step 3 leaves the old state: the staged parts and the new snapshot are unreferenced and
deleted by the next run (:func:`sigdiag.audit.store.recover`), and the file is processed again from the
previous snapshot — nothing counted twice.  A crash after step 3 is rolled forward: the state names the
pending renames, the next run finishes them — nothing lost.  Every file is therefore counted exactly once
whatever the moment of a SIGKILL.

**End of a point.**  The snapshot is taken *before* the close.  Closing then writes the *tail* (calls still
open, bursts still running) as parts marked provisional in the state.  When later files of the point come
(a new rotation, a rerun), the worker restores the snapshot — the open calls at the boundary, as they
were — goes on, and drops the old tail in the same commit as the next file: a call open at the end of
one run and finished in the next is counted once, as finished.

**Reruns.**  Files whose content hash is already in the point's state are skipped (a hash is reused while
the file's size and mtime are unchanged).  A file that cannot be opened, is not a capture, or breaks
mid-way is reported and skipped; the point goes on from the state before it.  The output folder records the
settings that shape results (``_state/run.json``); a rerun with other settings is refused.  One lock per
output folder (one audit at a time) and one per capture point (a worker left over from a killed run
finishes its point before anyone else touches it).

**Provenance.**  Every message read gets a frame number that knows its file
(:class:`sigdiag.audit.tables.FileFrame`, an int), so each stored call names the file of each of its
frames (``frame_files``), whichever file it was read in and whenever it joined its call.  Decoding
anomalies and damaged files are rows of the ``anomalies`` table, committed with their file (a skipped
file's rows in a commit of their own, once per content; ``state["bad"]``).

**Workers die with the audit.**  Each process of the local pool arms ``prctl(PR_SET_PDEATHSIG,
SIGKILL)`` (a thread watching ``os.getppid()`` where that is not available) in its initializer
(:func:`sigdiag.audit.worker.die_with_parent`): killing the audit process kills its workers as a crash
would, and the next run recovers.  The workers of the LocalCluster that ``engine="dask"`` starts end the
same way (Dask's nanny holds a pipe that each worker process watches; tested).

**Stopping cleanly.**  SIGINT and SIGTERM in the audit process (:class:`~sigdiag.audit.stopping.Stop`)
stop handing out points and ask the running ones to stop (the local pool: a shared event; Dask:
:func:`~sigdiag.audit.worker.request_stop` run on every worker).  A worker stops at its next safe place
(:func:`~sigdiag.audit.worker.stop_requested`, checked between files and every 64 messages, never inside
a commit): the file being read is dropped (its staged parts deleted, read again by the next run), every
file committed stays.  A second signal kills the workers at once (what a crash leaves).  The worker
processes take SIGINT and SIGTERM the same way (a Ctrl-C reaches the whole process group); a worker that
alone gets one stops the audit too.  :class:`~sigdiag.audit.errors.AuditInterrupted` carries the signal
(the command line exits with 128 + its number).

**Faults of the output folder.**  A write that fails (a full disk, a read-only file system) raises
:class:`~sigdiag.audit.store.StoreError` naming the file: it happens before its commit point, the staged
parts are deleted, and the other workers are stopped; the stored results are as at the last commit.  Each
part's size and rows are recorded in the state at its commit (``info``); a part found not whole
(:func:`~sigdiag.audit.store.check_part`: missing, cut short, no Parquet footer) makes its worker audit the
point again from its first file (a part's rows depend on the correlator's state before its file, kept only
for the last one) in one commit that drops the old parts; when files of the point are gone, the damaged
parts are dropped and the rows lost are named.  Summaries leave out damaged parts with a warning.

**Memory.**  A worker holds one point's correlator (the calls open at one time), the windows of the rules
and at most :data:`sigdiag.audit.worker.CHUNK_ROWS` rows before it writes a part: it does not grow with
the input's size.
"""

from sigdiag.audit.runner import ENGINES, AuditError, AuditResult, report, run_audit
from sigdiag.audit.summary import SUMMARY_KEYS, Thresholds, load_thresholds

__all__ = [
    "ENGINES",
    "SUMMARY_KEYS",
    "AuditError",
    "AuditResult",
    "Thresholds",
    "load_thresholds",
    "report",
    "run_audit",
]
