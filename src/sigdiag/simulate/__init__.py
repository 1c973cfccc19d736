"""Traffic simulator: realistic ISUP/BICC captures with known outcomes and injected faults.

>>> from sigdiag.simulate import simulate                       # doctest: +SKIP
>>> result = simulate("out.pcap", "captures/reference-fault.yaml", calls=200, seed=1)
>>> result.truth_path                                           # one JSON row per call
PosixPath('out.truth.jsonl')

The scenario format is documented in ``docs/scenario.md``; the truth schema in the same file and in
:mod:`sigdiag.simulate.truth`.  Messages are built by the codec's encoder
(:func:`sigdiag.codec.encode_message`) and framed by the builders of the capture and carrier layers
(:mod:`sigdiag.simulate.framing`); the simulator defines no wire format of its own.

Modules: :mod:`~sigdiag.simulate.scenario` (the scenario's schema), :mod:`~sigdiag.simulate.dist`
(random durations), :mod:`~sigdiag.simulate.faults` (the fault catalogue),
:mod:`~sigdiag.simulate.scenario_yaml` and :mod:`~sigdiag.simulate.scenario_parse` (reading and checking
a scenario file), :mod:`~sigdiag.simulate.flows` (call flows), :mod:`~sigdiag.simulate.isupgen` (message
templates), :mod:`~sigdiag.simulate.sipi` (SIP-I dialogs), :mod:`~sigdiag.simulate.framing` (carriers and
capture records), and the run: :mod:`~sigdiag.simulate.engine`, :mod:`~sigdiag.simulate.circuits`,
:mod:`~sigdiag.simulate.fastpath`, :mod:`~sigdiag.simulate.output`, :mod:`~sigdiag.simulate.truth`
(:mod:`~sigdiag.simulate.runstate` says how they fit).
"""

from __future__ import annotations

import os
from pathlib import Path

from sigdiag.simulate.engine import SimulationResult, output_paths
from sigdiag.simulate.faults import FAULT_TYPES
from sigdiag.simulate.scenario import Scenario, ScenarioError
from sigdiag.simulate.scenario_parse import default_scenario, load_scenario, parse_scenario

__all__ = [
    "FAULT_TYPES",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "default_scenario",
    "load_scenario",
    "output_paths",
    "parse_scenario",
    "simulate",
]


def simulate(
    out_path: str | os.PathLike[str],
    scenario: Scenario | str | os.PathLike[str] | None = None,
    calls: int | None = None,
    seed: int = 0,
    fmt: str | None = None,
) -> SimulationResult:
    """Write a simulated capture to ``out_path`` and its ground truth beside it.

    ``scenario`` is a :class:`Scenario`, a path to a scenario YAML file, or None for
    :func:`default_scenario`.  ``calls`` overrides the scenario's call count (calls of the Poisson
    traffic; faults given with ``count`` add theirs).  ``fmt`` is ``"pcap"`` or ``"pcapng"``; None takes
    the scenario's ``capture.format``, else ``pcapng`` for a ``.pcapng`` name, else ``pcap``.  The same
    arguments always give the same bytes.  Raises :class:`ScenarioError` for a bad scenario.
    """
    from sigdiag.simulate.engine import run

    if scenario is None:
        sc = default_scenario()
    elif isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc = load_scenario(Path(scenario))
    if calls is not None and calls < 0:
        raise ScenarioError(f"calls must be >= 0, not {calls}")
    return run(sc, out_path, calls, seed, fmt)
