"""Column types of every Parquet file sigdiag writes (``--format parquet`` and the audit's tables).

Records carry times as epoch seconds (floats); in Parquet a time column is ``timestamp[us, tz=UTC]``, read
back as a time-zone-aware UTC time by pandas (``datetime64[us, UTC]``), pyarrow and DuckDB (``TIMESTAMP
WITH TIME ZONE``).  A cause value or cause location is a nullable ``int16``.  The file's pandas metadata
marks every integer column as a pandas nullable integer (``Int16``, ``Int64``...) and every boolean column
as ``boolean``, so that ``pandas.read_parquet`` gives ``<NA>`` for a missing value instead of turning the
column into floats with NaN.

The columns are recognised by name (:data:`TIME_COLUMNS`, :data:`INT16_COLUMNS`): the same names mean the
same thing in messages, calls, findings and the audit's tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "INT16_COLUMNS",
    "TIME_COLUMNS",
    "arrow_array",
    "arrow_table",
    "column_type",
    "float_seconds",
    "micros",
    "timestamp_type",
    "with_pandas_metadata",
]

#: Columns holding a time (epoch seconds in the records).
TIME_COLUMNS = frozenset(
    (
        "ts",
        "start",
        "end",
        "acm_ts",
        "alert_ts",
        "anm_ts",
        "rel_ts",
        "rlc_ts",
        "window_start",
        "window_end",
    )
)
#: Columns holding a small integer that may be missing (Q.850 cause value and location).
INT16_COLUMNS = frozenset(("cause", "cause_location"))


def timestamp_type() -> Any:
    """``timestamp[us, tz=UTC]``."""
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


def micros(value: Any) -> int | None:
    """Epoch seconds -> whole microseconds (None for None or NaN)."""
    if value is None:
        return None
    v = float(value)
    if math.isnan(v):
        return None
    return round(v * 1_000_000)


def column_type(name: str) -> Any:
    """The Arrow type a column of that name always has, or None (the type follows the values)."""
    import pyarrow as pa

    if name in TIME_COLUMNS:
        return timestamp_type()
    if name in INT16_COLUMNS:
        return pa.int16()
    return None


def arrow_array(name: str, values: Sequence[Any], type: Any = None) -> Any:
    """An Arrow array of ``values`` for column ``name``: times converted from epoch seconds; ``type``
    (or the column's fixed type) when given, else inferred."""
    import pyarrow as pa

    t = type if type is not None else column_type(name)
    if t is not None and pa.types.is_timestamp(t):
        arr = _timestamps(values, t)
        if arr is not None:
            return arr
        return pa.array([micros(v) for v in values], type=t)
    return pa.array(values, type=t)


def _timestamps(values: Sequence[Any], t: Any) -> Any:
    """:func:`micros` of every value, column-wise: the same IEEE product ``v * 1e6`` rounded half to even
    (Python's ``round``), NaN and None as nulls; ``t`` (a ``us`` timestamp type) the array's.  None when
    a value is not a plain number (or out of range): the caller then converts value by value (and raises
    as :func:`micros` does)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if t.unit != "us":
        return None
    try:
        seconds = pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null, as micros
        us = pc.round(pc.multiply(seconds, 1_000_000.0), round_mode="half_to_even")
        return us.cast(pa.int64()).cast(t)  # (safe casts: an infinity or an overflow raises)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def arrow_table(columns: Mapping[str, Sequence[Any]], schema: Any = None) -> Any:
    """A table of the given columns (in order); with ``schema`` the columns get its types and it its
    metadata."""
    import pyarrow as pa

    if schema is not None:
        arrays = [arrow_array(n, columns[n], schema.field(n).type) for n in schema.names]
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays([arrow_array(n, v) for n, v in columns.items()], names=list(columns))


def _pandas_dtype(t: Any) -> tuple[str, str] | None:
    import pyarrow as pa

    if pa.types.is_integer(t):
        bits = t.bit_width
        signed = pa.types.is_signed_integer(t)
        return (f"{'' if signed else 'u'}int{bits}", f"{'' if signed else 'U'}Int{bits}")
    if pa.types.is_boolean(t):
        return ("bool", "boolean")
    return None


def with_pandas_metadata(schema: Any) -> Any:
    """``schema`` with pandas metadata naming pandas' nullable dtypes for its integer and boolean
    columns (any pandas metadata it had is replaced)."""
    import pyarrow as pa

    columns = []
    for f in schema:
        dt = _pandas_dtype(f.type)
        if dt is not None:
            columns.append(
                {
                    "name": f.name,
                    "field_name": f.name,
                    "pandas_type": dt[0],
                    "numpy_type": dt[1],
                    "metadata": None,
                }
            )
    meta = dict(schema.metadata or {})
    meta[b"pandas"] = json.dumps(
        {
            "index_columns": [],
            "column_indexes": [],
            "columns": columns,
            "creator": {"library": "pyarrow", "version": pa.__version__},
            "pandas_version": _pandas_version(),
        }
    ).encode()
    return schema.with_metadata(meta)


def _pandas_version() -> str:
    try:
        from importlib.metadata import version

        return version("pandas")
    except Exception:  # pandas not installed: the metadata is still valid
        return "2.1.0"


def float_seconds(batch: Any) -> Any:
    """A record batch or table with its timestamp columns turned back into epoch seconds (float64);
    other columns unchanged (files written before times were timestamps read the same)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names: Iterable[str] = batch.schema.names
    arrays = []
    fields = []
    for i, name in enumerate(names):
        col = batch.column(i)
        f = batch.schema.field(i)
        if pa.types.is_timestamp(f.type):
            unit = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[f.type.unit]
            col = pc.divide(col.cast(pa.int64()).cast(pa.float64()), unit)
            f = pa.field(name, pa.float64())
        arrays.append(col)
        fields.append(f)
    if isinstance(batch, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
