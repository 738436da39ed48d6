"""Vectorised helpers: seeded hashing, categorical draws, and numpy → Arrow text columns."""

from __future__ import annotations

import calendar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.world import DAY, ID_WIDTH, LABEL_FIRST_MONTH, LABEL_MONTHS, TZ_OFFSETS_MIN, TZ_SUFFIX

_M64 = (1 << 64) - 1


def _seed_hash(seed: int, salt: int) -> int:
    """A well-mixed 63-bit integer from (seed, salt): splitmix64 of a combined key."""
    return int(_mix64(np.array([(seed * 1_000_003 + salt * 7_919) & _M64], dtype=np.uint64))[0] >> 1)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic is intended)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_u(seed: int, k: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) per ``k``, stable for a (seed, salt): used for client attributes."""
    key = np.uint64(_seed_hash(seed, salt))
    z = _mix64(k.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03) ^ key)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _cat(u: np.ndarray, probs: tuple[float, ...] | list[float]) -> np.ndarray:
    """Categorical draw from uniforms: index i with probability probs[i]; the rest -> last+1."""
    return np.searchsorted(np.cumsum(probs), u, side="right").astype(np.int64)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-group counts to rows: (group index, position within group) per row."""
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(len(group)) - starts[group]


def _allocate(total: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split integer ``total`` per group over its rows by weight; the last row takes the rest."""
    group, pos = _ragged(counts)
    starts = np.cumsum(counts) - counts
    wsum = np.add.reduceat(weights, starts) if len(weights) else weights
    share = np.floor(total[group] * weights / wsum[group]).astype(np.int64)
    rest = total - (np.add.reduceat(share, starts) if len(share) else share)
    last = starts + counts - 1
    share[last] += rest
    return share


def _month_of(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _year_of(days: np.ndarray) -> np.ndarray:
    return _month_of(days) // 12 + 1970


def _tz_code(u: np.ndarray, rate: float) -> np.ndarray:
    """0 (UTC) or, with probability ``rate``, one of the offsets; reuses the same uniform."""
    if rate <= 0:
        return np.zeros(len(u), dtype=np.int64)
    other = 1 + np.minimum((u / rate * (len(TZ_OFFSETS_MIN) - 1)).astype(np.int64), len(TZ_OFFSETS_MIN) - 2)
    return np.where(u < rate, other, 0)


def _arr(values) -> pa.Array:
    return pa.array(values, type=pa.string())


def _str(x: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(x, dtype=np.int64)).cast(pa.string())


def _pad(x: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_str(x), width=width, padding="0")


def _ids(prefix: str, x: np.ndarray, width: int = ID_WIDTH) -> pa.Array:
    return _join(prefix, _pad(x, width))


def _join(*parts, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return values.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), values)


def _replace(values: pa.Array, mask: np.ndarray, replacement: pa.Array) -> pa.Array:
    """Replace ``values`` where ``mask`` by ``replacement`` (one value per True, in order)."""
    if not mask.any():
        return values
    return pc.replace_with_mask(values, pa.array(mask), replacement)


_CENTS = _arr([f"{c:02d}" for c in range(100)])
_HMS = _arr([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)])  # lookup beats strftime


def _money(cents: np.ndarray) -> pa.Array:
    """Integer cents -> '1234.50' (no float ever touches money)."""
    cents = np.asarray(cents, dtype=np.int64)
    if (cents < 0).any():
        raise ValueError("money amounts are generated non-negative")
    return _join(_str(cents // 100), _take(_CENTS, cents % 100), sep=".")


def _date(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32()).cast(pa.string())


def _timestamp(seconds: np.ndarray, tz: np.ndarray) -> pa.Array:
    """UTC seconds -> ISO 8601, as 'Z' or as local time with the offset of code ``tz``."""
    local = np.asarray(seconds, dtype=np.int64) + np.array(TZ_OFFSETS_MIN)[tz] * 60
    return _join(_date(local // DAY), "T", _take(_HMS, local % DAY), _take(_arr(TZ_SUFFIX), tz))


def _month_label(days: np.ndarray) -> pa.Array:
    """'Mar 2026' for the month of each day."""
    m = np.clip(_month_of(days) - LABEL_FIRST_MONTH, 0, LABEL_MONTHS - 1)
    return _take(_MONTH_LABELS, m)


_MONTH_LABELS = _arr([f"{calendar.month_abbr[m % 12 + 1]} {2024 + m // 12}" for m in range(LABEL_MONTHS)])


def _month_start_day(days: np.ndarray) -> np.ndarray:
    return _month_of(days).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
