"""sigdiag: decode, correlate, diagnose and audit SS7 ISUP/BICC signalling from packet captures."""

__version__ = "0.1.0"
