"""Text as people type it: client names and their variants, order references and their noise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.columns import _arr, _cat, _join, _null_where, _pad, _replace, _str, _take
from orchestration.lab.generate.world import NAME_VARIANTS, NAME_WORD_1, NAME_WORD_2, NAME_WORD_3, SUFFIXES, _typos

_W1 = _arr(NAME_WORD_1)
_W2 = _arr(NAME_WORD_2)
_W3 = _arr([w for w, _ in NAME_WORD_3])
_W3_ABBR = _arr([a for _, a in NAME_WORD_3])
_W2_TYPO = _arr([t for w in NAME_WORD_2 for t in _typos(w)])
_SUFFIX = [_arr([s[n] for s in SUFFIXES]) for n in range(3)]


def _client_names(
    cl: dict[str, np.ndarray], variant: np.ndarray | None = None, typo: np.ndarray | None = None
) -> pa.Array:
    """Client names from their word components; ``variant`` codes index NAME_VARIANTS."""
    w1, w2, w3 = _take(_W1, cl["w1"]), _take(_W2, cl["w2"]), _take(_W3, cl["w3"])
    suffix = _take(_SUFFIX[0], cl["suffix"])
    names = _join(w1, w2, w3, suffix, sep=" ")
    if variant is None:
        return names
    for code in range(1, len(NAME_VARIANTS)):
        mask = variant == code
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        pick = pa.array(idx)
        core = _join(w1.take(pick), w2.take(pick), w3.take(pick), sep=" ")
        kind = NAME_VARIANTS[code]
        if kind == "upper_case":
            new = pc.utf8_upper(names.take(pick))
        elif kind == "lower_case":
            new = pc.utf8_lower(names.take(pick))
        elif kind == "punctuation":
            new = _join(core, _take(_SUFFIX[1], cl["suffix"][idx]), sep=", ")
        elif kind == "suffix_dropped":
            new = core
        elif kind == "suffix_changed":
            new = _join(core, _take(_SUFFIX[2], cl["suffix"][idx]), sep=" ")
        elif kind == "abbreviation":
            new = _join(
                w1.take(pick),
                w2.take(pick),
                _take(_W3_ABBR, cl["w3"][idx]),
                _take(_SUFFIX[0], cl["suffix"][idx]),
                sep=" ",
            )
        else:  # typo in the second word
            typo_word = _take(_W2_TYPO, cl["w2"][idx] * 4 + typo[idx])
            new = _join(w1.take(pick), typo_word, w3.take(pick), _take(_SUFFIX[0], cl["suffix"][idx]), sep=" ")
        names = _replace(names, mask, new)
    return names


def _brand(cl: dict[str, np.ndarray]) -> pa.Array:
    """How marketers write the client: the first two words of the name."""
    return _join(_take(_W1, cl["w1"]), _take(_W2, cl["w2"]), sep=" ")


def _take_cl(cl: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {key: v[idx] for key, v in cl.items()}


# Reference noise: 0 exact, 1 missing, 2 typo, 3 spaces, 4 lowercase, 5 prefix dropped.
REF_EXACT, REF_MISSING, REF_TYPO, REF_SPACES, REF_LOWER, REF_NOPREFIX = range(6)
_REF_PREFIX = _arr(["PO-", "PO-", "PO-", "PO ", "po-", ""])
_REF_SEP = _arr(["-", "-", "-", " ", "-", "-"])


def _ref_mode(u: np.ndarray, rates: dict[str, float]) -> np.ndarray:
    """Reference noise per reference from one uniform (exclusive: missing, typo, format)."""
    kind = _cat(u, (rates["ref_missing"], rates["ref_typo"], rates["ref_format"]))
    mode = np.array([REF_MISSING, REF_TYPO, REF_SPACES, REF_EXACT])[kind]
    fmt = mode == REF_SPACES
    within = (u - rates["ref_missing"] - rates["ref_typo"]) / max(rates["ref_format"], 1e-12)
    return np.where(fmt, REF_SPACES + np.clip((within * 3).astype(np.int64), 0, 2), mode)


def _typo_number(num: np.ndarray, digits: int, u: np.ndarray) -> np.ndarray:
    """One digit changed, or two adjacent digits transposed (when they differ)."""
    pos = np.minimum((u * (digits - 1)).astype(np.int64), digits - 2)
    frac = u * (digits - 1) - pos
    p0, p1 = 10**pos, 10 ** (pos + 1)
    d0, d1 = num // p0 % 10, num // p1 % 10
    swapped = num + (d1 - d0) * p0 + (d0 - d1) * p1
    changed = num + ((d0 + 1 + (frac * 9).astype(np.int64)) % 10 - d0) * p0
    return np.where((frac < 0.5) & (d0 != d1), swapped, changed)


def _ref_text(
    year: np.ndarray, num: np.ndarray, mode: np.ndarray | None, digits: int, u: np.ndarray | None = None
) -> pa.Array:
    """Order reference as written somewhere: 'PO-2026-0000123', or its ``mode`` variant."""
    if mode is None:
        mode = np.zeros(len(num), dtype=np.int64)
    if u is not None:
        num = np.where(mode == REF_TYPO, _typo_number(num, digits, u), num)
    text = _join(_take(_REF_PREFIX, mode), _str(year), _take(_REF_SEP, mode), _pad(num, digits))
    return _null_where(text, mode == REF_MISSING)
