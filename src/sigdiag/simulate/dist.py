"""Random durations of a scenario: :class:`Dist` (fixed, uniform, lognormal or exponential, clamped) and
its samplers.

A scenario gives durations as a number (fixed), ``[min, max]`` (uniform), or a mapping ``{dist:
lognormal|exponential|uniform|fixed, median|mean|value, sigma, min, max}`` (parsed by
:func:`sigdiag.simulate.scenario_yaml._parse_dist`); the unit is in the key's name (``_s`` seconds,
``_ms`` milliseconds), and :meth:`Dist.sampler` scales draws to integer micro-seconds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Dist"]


@dataclass(frozen=True, slots=True)
class Dist:
    """A random quantity: fixed, uniform, lognormal (median, sigma) or exponential (mean), clamped to
    ``[lo, hi]``.  Units are those of the key that holds it (seconds or milliseconds)."""

    kind: str = "fixed"
    a: float = 0.0
    b: float = 0.0
    lo: float = 0.0
    hi: float = math.inf

    @staticmethod
    def fixed(value: float) -> Dist:
        return Dist("fixed", value, value, value, value)

    @staticmethod
    def uniform(lo: float, hi: float) -> Dist:
        return Dist("uniform", lo, hi, lo, hi)

    def sampler(self, rng: random.Random, scale: float = 1.0) -> Callable[[], int]:
        """A function drawing one value, multiplied by ``scale`` and rounded to an integer (used with
        scale 1e6 for seconds to microseconds, 1e3 for milliseconds to microseconds).

        Lognormal draws use a 4096-point inverse-CDF table with linear interpolation (one
        ``random()`` per draw); exponential draws invert the CDF directly.
        """
        lo, hi = self.lo * scale, self.hi * scale
        r = rng.random
        if self.kind == "fixed":
            v = round(self.a * scale)
            return lambda: v
        if self.kind == "uniform":
            a, width = self.a * scale, (self.b - self.a) * scale
            return lambda: round(a + width * r())
        if self.kind == "lognormal":
            table = _lognormal_table(self.a * scale, self.b, lo, hi)
            n = len(table) - 1

            def draw_lognormal() -> int:
                x = r() * n
                k = int(x)
                a = table[k]
                return round(a + (table[k + 1] - a) * (x - k))

            return draw_lognormal
        mean = self.a * scale
        log = math.log

        def draw_exponential() -> int:
            v = -mean * log(1.0 - r())
            return round(lo if v < lo else hi if v > hi else v)

        return draw_exponential


_TABLE_POINTS = 4096


def _lognormal_table(median: float, sigma: float, lo: float, hi: float) -> list[float]:
    """Quantiles of a lognormal distribution at (i + 0.5) / N, clamped to [lo, hi], plus the last again."""
    from statistics import NormalDist

    nd = NormalDist()
    out = []
    for i in range(_TABLE_POINTS):
        v = median * math.exp(sigma * nd.inv_cdf((i + 0.5) / _TABLE_POINTS))
        out.append(lo if v < lo else hi if v > hi else v)
    out.append(out[-1])
    return out
