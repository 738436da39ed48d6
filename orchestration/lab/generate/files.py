"""Writing a world: the chunked landing files, the ground truth, and the legacy export ingestion must reject."""

from __future__ import annotations

import csv
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration import contract
from orchestration.lab.generate import ads, billing, crm, fulfilment, leads
from orchestration.lab.generate.block import Block, BlockOutput
from orchestration.lab.generate.columns import _join
from orchestration.lab.generate.context import Context
from orchestration.lab.generate.text import _client_names
from orchestration.lab.generate.world import (
    BLOCK_ORDERS,
    GENERATOR_VERSION,
    ID_STRIDE,
    LEGACY_FILE,
    MIXED_FORMATS,
    NOISE_RATES,
    effective_rates,
    table_formats,
)


@dataclass
class GenerateResult:
    """What ``generate`` wrote: landing files, row counts per raw table, corrupted rows."""

    files: list[Path]
    rows: dict[str, int]
    bad_rows: int
    seconds: float
    ground_truth_dir: Path
    discrepancies: dict[str, int] = field(default_factory=dict)


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    orders: int = 2000,
    noise: float = 1.0,
    file_format: str = "mixed",
    chunk_size: int = 100_000,
    bad_rows: bool = True,
    bad_files: bool = True,
) -> GenerateResult:
    """Write landing files under ``out_dir/landing`` and the truth under ``out_dir/ground_truth``.

    Same arguments give byte-identical files. ``noise`` multiplies every rate in
    ``NOISE_RATES`` (0 gives clean, perfectly matching data: no discrepancies, no bad rows,
    no bad file). Files this generator wrote before into the same directories are removed
    first, so a smaller re-run does not leave stale chunks behind.
    """
    started = time.perf_counter()
    if orders < 1:
        raise ValueError("orders must be >= 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    ctx = Context(seed, orders, effective_rates(noise), table_formats(file_format), bad_rows)
    out_dir = Path(out_dir).resolve()
    landing = out_dir / "landing"
    truth_dir = out_dir / "ground_truth"
    _remove_previous_output(landing, truth_dir)

    files: list[Path] = []
    rows = {table: 0 for table in MIXED_FORMATS}
    discrepancies: Counter[str] = Counter()
    links: Counter[str] = Counter()
    cached: tuple[int, BlockOutput] | None = None
    n_chunks = -(-orders // chunk_size)
    with _TruthWriter(truth_dir) as truth:
        for chunk in range(n_chunks):
            lo, hi = chunk * chunk_size, min(orders, (chunk + 1) * chunk_size)
            pieces = []
            for block in range(lo // BLOCK_ORDERS, (hi - 1) // BLOCK_ORDERS + 1):
                if cached is None or cached[0] != block:
                    cached = (block, _run_block(ctx, block))
                pieces.append(cached[1].slice(lo, hi))
            for table in MIXED_FORMATS:
                for late in (False, True):
                    parts = [p.late[table] if late else p.main[table] for p in pieces]
                    data = pa.concat_tables(parts)
                    if late and data.num_rows == 0:
                        continue
                    path = _landing_path(landing, table, chunk, late, ctx.formats[table])
                    _write_landing(data, path, ctx.formats[table])
                    files.append(path)
                    rows[table] += data.num_rows
            records = pa.concat_tables([p.records for p in pieces])
            link_rows = pa.concat_tables([p.links for p in pieces])
            truth.write(records, link_rows)
            discrepancies.update(_value_counts(records.column("discrepancy")))
            links.update(_value_counts(link_rows.column("reconciliation")))

        bad_file_rows = []
        if bad_files and noise > 0:
            path = out_dir / LEGACY_FILE
            n_legacy = _write_legacy_export(ctx, path)
            files.append(path)
            bad_file_rows.append((LEGACY_FILE.as_posix(), "missing required column currency", n_legacy))
        truth.write_bad_files(bad_file_rows)
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "contract_version": contract.CONTRACT_VERSION,
            "seed": seed,
            "orders": orders,
            "noise": noise,
            "file_format": file_format,
            "formats": ctx.formats,
            "chunk_size": chunk_size,
            "chunks": n_chunks,
            "block_orders": BLOCK_ORDERS,
            "id_stride": ID_STRIDE,
            "clients": ctx.n_clients,
            "bad_rows": bad_rows,
            "bad_files": [{"path": p, "problem": why, "rows": n} for p, why, n in bad_file_rows],
            "rates": {k: round(v, 6) for k, v in ctx.rates.items()},
            "default_rates": NOISE_RATES,
            "rows": rows,
            "files": len(files),
            "discrepancies": dict(sorted(discrepancies.items())),
            "links": dict(sorted(links.items())),
        }
        (truth_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")

    return GenerateResult(
        files=sorted(files),
        rows=rows,
        bad_rows=discrepancies.get("bad_value", 0),
        seconds=time.perf_counter() - started,
        ground_truth_dir=truth_dir,
        discrepancies=dict(sorted(discrepancies.items())),
    )


_CSV_SPECIAL = re.compile('[,"\r\n]')


def _landing_path(landing: Path, table: str, chunk: int, late: bool, fmt: str) -> Path:
    source, name = table.split("__")
    return landing / source / name / f"{name}_{chunk:05d}{'_late' if late else ''}.{fmt}"


def _remove_previous_output(landing: Path, truth_dir: Path) -> None:
    """Delete files an earlier run wrote (and only those), so no stale chunk gets ingested."""
    for table in MIXED_FORMATS:
        source, name = table.split("__")
        folder = landing / source / name
        if not folder.is_dir():
            continue
        pattern = re.compile(rf"{re.escape(name)}_\d{{5}}(_late)?\.(csv|jsonl|parquet)")
        for path in folder.iterdir():
            if pattern.fullmatch(path.name) or path.name == LEGACY_FILE.name:
                path.unlink()
    for name in ("records.csv", "links.csv", "manifest.json", "bad_files.csv"):
        (truth_dir / name).unlink(missing_ok=True)


def _may_contain(column: pa.ChunkedArray | pa.Array, chars: bytes) -> bool:
    """Cheap pre-check on the raw UTF-8 bytes before running a per-value escape."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        data = chunk.buffers()[2] if len(chunk) else None
        if data is not None:
            raw = data.to_pybytes()
            if any(bytes([c]) in raw for c in chars):
                return True
    return False


def _csv_field(column) -> pa.ChunkedArray | pa.Array:
    """Minimal quoting, as Python's csv module does: only values with , " or newlines."""
    column = pc.fill_null(column, "")
    if not _may_contain(column, b',"\r\n'):
        return column
    quoted = _join('"', pc.replace_substring(column, '"', '""'), '"')
    return pc.if_else(pc.match_substring_regex(column, _CSV_SPECIAL.pattern), quoted, column)


def _json_field(name: str, column) -> pa.ChunkedArray | pa.Array:
    """'"name":"value"' or '"name":null'; values are strings so decimals stay exact."""
    if _may_contain(column, b'"\\'):
        column = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(_join(f'"{name}":"', column, '"'), f'"{name}":null')


def _write_lines(fh, lines) -> None:
    """Write a string array's characters straight from its Arrow buffer (no Python strings)."""
    chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        fh.write(memoryview(chunk.buffers()[2])[offsets[0] : offsets[-1]])


def _csv_lines(table: pa.Table):
    return _join(_join(*(_csv_field(c) for c in table.columns), sep=","), "\n")


def _write_csv(table: pa.Table, fh) -> None:
    if table.num_rows:
        _write_lines(fh, _csv_lines(table))


def _write_landing(table: pa.Table, path: Path, fmt: str) -> None:
    """Write one landing file; every column is text, the ingester casts per the contract."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="snappy")
        return
    with open(path, "wb") as fh:
        if fmt == "csv":
            fh.write((",".join(table.column_names) + "\n").encode())
            _write_csv(table, fh)
        else:
            if table.num_rows:
                fields = [_json_field(name, table.column(name)) for name in table.column_names]
                _write_lines(fh, _join("{", _join(*fields, sep=","), "}\n"))


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    if len(column) == 0:
        return {}
    counts = pc.value_counts(column)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


class _TruthWriter:
    """Streams records.csv and links.csv chunk by chunk; writes bad_files.csv at the end."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __enter__(self) -> _TruthWriter:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records = open(self.directory / "records.csv", "wb")
        self.records.write(b"entity,record_id,discrepancy,detail\n")
        self.links = open(self.directory / "links.csv", "wb")
        self.links.write(b"reconciliation,left_id,right_id,link_type\n")
        return self

    def write(self, records: pa.Table, links: pa.Table) -> None:
        _write_csv(records, self.records)
        _write_csv(links, self.links)

    def write_bad_files(self, rows: list[tuple[str, str, int]]) -> None:
        with open(self.directory / "bad_files.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["path", "problem"])
            writer.writerows((path, problem) for path, problem, _ in rows)

    def __exit__(self, *exc) -> None:
        self.records.close()
        self.links.close()


def _write_legacy_export(ctx: Context, path: Path) -> int:
    """An old billing export without the ``currency`` column: ingestion must reject the file."""
    columns = [c for c in contract.entity("billing", "invoices").column_names if c != "currency"]
    r = np.random.default_rng([ctx.seed, 0, 999])
    k = np.arange(5)
    names = _client_names(ctx.clients(k)).to_pylist()
    rows = []
    for n in range(5):
        net = int(r.integers(50_000, 2_000_000))
        tax = net // 5
        day = np.datetime64("2024-11-01") + int(r.integers(0, 60))
        rows.append(
            {
                "invoice_id": f"LEGACY-{n + 1:05d}",
                "invoice_number": f"L{n + 1:05d}",
                "client_name": names[n],
                "reference": "",
                "issue_date": str(day),
                "due_date": str(day + 30),
                "net_amount": f"{net // 100}.{net % 100:02d}",
                "tax_amount": f"{tax // 100}.{tax % 100:02d}",
                "total_amount": f"{(net + tax) // 100}.{(net + tax) % 100:02d}",
                "status": "paid",
                "updated_at": f"{day}T09:00:00Z",
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _run_block(ctx: Context, number: int) -> BlockOutput:
    """Every source of one block, in dependency order: orders, billing, ads, fulfilment, leads."""
    blk = Block(ctx, number)
    o = crm.orders(blk)
    inv = billing.invoices(blk, o)
    camp = ads.delivery(blk, o, inv)
    fulfilment.deliverables(blk, o, inv)
    leads.leads(blk, o, camp)
    return blk.output()
