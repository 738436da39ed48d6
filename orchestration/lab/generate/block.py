"""One block of orders: its random streams, the rows it emits (late, re-sent, corrupted) and its truth."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration import contract
from orchestration.lab.generate.columns import _arr, _join, _replace, _take
from orchestration.lab.generate.context import Context
from orchestration.lab.generate.world import (
    BAD_KINDS,
    BAD_ROW_COLUMNS,
    BAD_ROW_EFFECT,
    BLOCK_ORDERS,
    ID_STRIDE,
    LINK_TYPES,
)

_LINK_TYPES = _arr(LINK_TYPES)


class Draws:
    """Random draws of one block and one purpose, by name: each name is a stream of its own.

    A draw depends on (seed, block, purpose, name) and nothing else. Adding, removing or
    reordering draws leaves every other value as it was, which a matrix of uniforms
    (``u = rng.random((15, n))``, then ``u[7]``) does not: a new row there shifts every
    draw taken after it from the same generator. A name taken twice is a bug (two columns
    would share their randomness), so it raises.
    """

    def __init__(self, seed: int, block: int, purpose: str, n: int):
        self.seed, self.block, self.purpose, self.n = seed, block, purpose, n
        self._taken: set[str] = set()

    def generator(self, name: str) -> np.random.Generator:
        if name in self._taken:
            raise ValueError(f"draw {self.purpose}.{name} taken twice in block {self.block}")
        self._taken.add(name)
        key = zlib.crc32(f"{self.purpose}.{name}".encode())
        return np.random.default_rng([self.seed, self.block, key])

    def __call__(self, name: str, size: int | None = None) -> np.ndarray:
        """``size`` (default: the purpose's row count) uniforms in [0, 1)."""
        return self.generator(name).random(self.n if size is None else size)

    def normal(self, name: str, size: int | None = None) -> np.ndarray:
        return self.generator(name).standard_normal(self.n if size is None else size)


@dataclass
class Part:
    """Rows of one table from one block, sorted by anchor (the global order index they follow)."""

    table: pa.Table
    anchor: np.ndarray

    def slice(self, lo: int, hi: int) -> pa.Table:
        start, stop = np.searchsorted(self.anchor, [lo, hi], side="left")
        return self.table.slice(int(start), int(stop - start))


@dataclass
class BlockOutput:
    main: dict[str, Part]
    late: dict[str, Part]
    records: Part
    links: Part

    def slice(self, lo: int, hi: int) -> BlockSlice:
        return BlockSlice(
            {t: p.slice(lo, hi) for t, p in self.main.items()},
            {t: p.slice(lo, hi) for t, p in self.late.items()},
            self.records.slice(lo, hi),
            self.links.slice(lo, hi),
        )


@dataclass
class BlockSlice:
    main: dict[str, pa.Table]
    late: dict[str, pa.Table]
    records: pa.Table
    links: pa.Table


class Block:
    """Generates every entity for the orders of one block; methods run in dependency order."""

    def __init__(self, ctx: Context, block: int):
        self.ctx = ctx
        self.rates = ctx.rates
        self.block = block
        self.i0 = block * BLOCK_ORDERS
        self.n = min(ctx.orders, self.i0 + BLOCK_ORDERS) - self.i0
        self.id_base = block * ID_STRIDE + 1
        self.main: dict[str, Part] = {}
        self.late: dict[str, Part] = {}
        self._records: list[tuple[np.ndarray, str, pa.Array, str, pa.Array]] = []
        self._links: list[tuple[np.ndarray, str, pa.Array, pa.Array, pa.Array]] = []

    def draws(self, purpose: str, n: int | None = None) -> Draws:
        """Named draws for ``purpose`` (a source, a table's rows), ``n`` values each (default: the orders)."""
        return Draws(self.ctx.seed, self.block, purpose, self.n if n is None else n)

    def output(self) -> BlockOutput:
        return BlockOutput(self.main, self.late, self._pack_records(), self._pack_links())

    def new_ids(self, count: int) -> np.ndarray:
        if count >= ID_STRIDE:
            raise RuntimeError(f"block {self.block} needs {count} ids, more than ID_STRIDE={ID_STRIDE}")
        return self.id_base + np.arange(count, dtype=np.int64)

    # -- ground truth collection --

    def record(self, entity: str, discrepancy: str, anchor, record_id: pa.Array, detail=None) -> None:
        if len(record_id) == 0:
            return
        if detail is None:
            detail = pa.nulls(len(record_id), pa.string())
        elif isinstance(detail, str):
            detail = pa.repeat(detail, len(record_id))
        self._records.append((np.asarray(anchor, dtype=np.int64), entity, record_id, discrepancy, detail))

    def link(self, recon: str, anchor, left: pa.Array, right: pa.Array, link_type) -> None:
        if len(left) == 0:
            return
        if isinstance(link_type, str):
            link_type = pa.repeat(link_type, len(left))
        else:
            link_type = _take(_LINK_TYPES, link_type)
        self._links.append((np.asarray(anchor, dtype=np.int64), recon, left, right, link_type))

    def _pack_records(self) -> Part:
        cols = ("entity", "record_id", "discrepancy", "detail")
        if not self._records:
            return Part(pa.table({c: pa.array([], pa.string()) for c in cols}), np.zeros(0, np.int64))
        anchor = np.concatenate([r[0] for r in self._records])
        order = np.argsort(anchor, kind="stable")
        table = pa.table(
            {
                "entity": pa.concat_arrays([pa.repeat(r[1], len(r[0])) for r in self._records]),
                "record_id": pa.concat_arrays([r[2] for r in self._records]),
                "discrepancy": pa.concat_arrays([pa.repeat(r[3], len(r[0])) for r in self._records]),
                "detail": pa.concat_arrays([r[4] for r in self._records]),
            }
        )
        return Part(table.take(pa.array(order)), anchor[order])

    def _pack_links(self) -> Part:
        cols = ("reconciliation", "left_id", "right_id", "link_type")
        if not self._links:
            return Part(pa.table({c: pa.array([], pa.string()) for c in cols}), np.zeros(0, np.int64))
        anchor = np.concatenate([r[0] for r in self._links])
        order = np.argsort(anchor, kind="stable")
        table = pa.table(
            {
                "reconciliation": pa.concat_arrays([pa.repeat(r[1], len(r[0])) for r in self._links]),
                "left_id": pa.concat_arrays([r[2] for r in self._links]),
                "right_id": pa.concat_arrays([r[3] for r in self._links]),
                "link_type": pa.concat_arrays([r[4] for r in self._links]),
            }
        )
        return Part(table.take(pa.array(order)), anchor[order])

    # -- landing rows: late files, re-sent duplicates, corrupted values --

    def emit(self, table: str, cols: dict[str, pa.Array], anchor: np.ndarray) -> None:
        """Store a table's rows; decide which arrive late, are re-sent or carry a bad value."""
        entity = contract.ENTITY_BY_TABLE[table]
        # Dialect A writes the contract's 1.0.0 columns (and whichever later ones it fills),
        # in contract order: its files double as a check that older files still load.
        expected = tuple(c.name for c in entity.columns if c.since == "1.0.0" or c.name in cols)
        if tuple(cols) != expected:
            raise AssertionError(f"{table}: columns {tuple(cols)} differ from the contract")
        n = len(anchor)
        d = self.draws(f"rows.{table}", n)
        key = cols[entity.key[0]] if len(entity.key) == 1 else _join(*(cols[k] for k in entity.key), sep="|")
        bad = (d("bad_value") < self.rates["bad_value"]) if self.ctx.bad_rows_in(table) else np.zeros(n, dtype=bool)
        dup = (d("duplicate_row") < self.rates["duplicate_row"]) & ~bad
        late = d("late_file") < self.rates["late_file"]
        if bad.any():
            cols = self._corrupt(table, cols, key, anchor, bad, d("defect"))
        data = pa.table(cols)
        main_idx = np.flatnonzero(~late)
        late_idx = np.concatenate([np.flatnonzero(late), np.flatnonzero(dup)])
        late_idx = late_idx[np.argsort(anchor[late_idx], kind="stable")]
        self.main[table] = Part(data.take(pa.array(main_idx)), anchor[main_idx])
        self.late[table] = Part(data.take(pa.array(late_idx)), anchor[late_idx])
        self.record(table, "late_file", anchor[late], key.filter(pa.array(late)), "row arrives in the _late file")
        self.record(
            table, "duplicate_row", anchor[dup], key.filter(pa.array(dup)), "exact copy re-sent in the _late file"
        )

    def _corrupt(self, table, cols, key, anchor, bad, u) -> dict[str, pa.Array]:
        """One defect per bad row: the only per-row Python here, for ~0.2% of three tables."""
        cols = dict(cols)
        idx = np.flatnonzero(bad)
        kinds = np.minimum((u[idx] * 4).astype(np.int64), 3)
        flip = (u[idx] * 40) % 1 < 0.5  # second-level choice within a defect kind
        unknown = ("XYZ", "EURO", "US$")
        targets = BAD_ROW_COLUMNS[table]
        rec_ids, details = [], []
        for kind_code in range(4):
            kind = BAD_KINDS[kind_code]
            sel = idx[kinds == kind_code]
            if not len(sel):
                continue
            column = targets[kind]
            old = cols[column].take(pa.array(sel)).to_pylist()
            new: list[str | None] = []
            for value, f in zip(old, flip[kinds == kind_code], strict=True):
                if kind == "amount":
                    units, cents = value.split(".")
                    if int(units) >= 1000 and f:
                        new.append(f"{int(units):,}.{cents}")
                        defect = "thousands separator"
                    else:
                        new.append(f"{units},{cents}")
                        defect = "decimal comma"
                elif kind == "date":
                    y, m, d = value.split("-")
                    new.append(f"{d}/{m}/{y}")
                    defect = "date not ISO"
                elif kind == "currency":
                    new.append(unknown[len(details) % 3])
                    defect = "unknown currency"
                else:
                    new.append(None)
                    defect = "required id empty"
                shown = "empty" if new[-1] is None else f"'{new[-1]}'"
                details.append(f"column={column}; defect={defect}; value={shown}; {BAD_ROW_EFFECT[table]}")
            mask = np.zeros(len(bad), dtype=bool)
            mask[sel] = True
            cols[column] = _replace(cols[column], mask, pa.array(new, pa.string()))
            rec_ids.append(sel)
        order = np.concatenate(rec_ids)
        self.record(table, "bad_value", anchor[order], key.take(pa.array(order)), _arr(details))
        return cols
