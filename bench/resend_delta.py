"""Write a "1 % night" into a landing folder: every Nth row of each entity's chunk files,
re-sent as one new file per entity (the same keys: platform restatements, CRM and billing
re-exports). How the 1 % nights in docs/benchmarks.md were made.

    .venv/bin/python bench/resend_delta.py $RECON_HOME/landing delta01 [--every 100] [--change 1.0]

``--change SHARE``: that share of the re-sent rows carries a changed value (an amount, a date,
a name or a reference: orchestration.lab.simulate.change_record), so the night restates
records rather than repeating them; 0 (the default) re-sends them byte for byte.

Late files, legacy exports and earlier deltas are not sampled.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

from orchestration.lab.simulate import change_record


def resend(landing: Path, tag: str, every: int = 100, change: float = 0.0, seed: int = 0) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)

    def maybe_changed(record: dict) -> dict:
        if change and rng.random() < change:
            change_record(record, rng)
        return record

    written: dict[str, int] = {}
    for folder in sorted(p for p in landing.glob("*/*") if p.is_dir()):
        chunks = sorted(
            f
            for f in folder.iterdir()
            if f.is_file() and not any(word in f.name for word in ("_late", "legacy", "delta"))
        )
        if not chunks:
            continue
        suffix = chunks[0].suffix
        out = folder / f"{chunks[0].name.split('_0')[0]}_{tag}{suffix}"
        rows = 0
        if suffix == ".csv":
            with open(out, "w", newline="") as target:
                writer = None
                for chunk in chunks:
                    with open(chunk, newline="") as source:
                        reader = csv.reader(source)
                        header = next(reader)
                        if writer is None:
                            writer = csv.writer(target)
                            writer.writerow(header)
                        for i, row in enumerate(reader):
                            if i % every == 0:
                                record = maybe_changed(dict(zip(header, row, strict=False)))
                                writer.writerow([record.get(name, "") for name in header])
                                rows += 1
        elif suffix == ".jsonl":
            with open(out, "w") as target:
                for chunk in chunks:
                    with open(chunk) as source:
                        for i, line in enumerate(source):
                            if i % every == 0:
                                if change:
                                    line = json.dumps(maybe_changed(json.loads(line)))
                                target.write(line if line.endswith("\n") else line + "\n")
                                rows += 1
        elif suffix == ".parquet":
            parts = [pq.read_table(c) for c in chunks]
            table = pa.concat_tables(p.take(pa.array(range(0, p.num_rows, every))) for p in parts)
            if change:
                records = [maybe_changed(r) for r in table.to_pylist()]
                # A changed value is text; the file keeps each column's type.
                table = pa.Table.from_pylist(
                    [{k: _typed(v, table.schema.field(k).type) for k, v in r.items()} for r in records],
                    schema=table.schema,
                )
            pq.write_table(table, out)
            rows = table.num_rows
        else:
            continue
        written[str(out.relative_to(landing))] = rows
    return written


def _typed(value, kind):
    import datetime as dt

    import pyarrow as pa

    if not isinstance(value, str):
        return value
    if pa.types.is_floating(kind):
        return float(value)
    if pa.types.is_decimal(kind):
        from decimal import Decimal

        return Decimal(value)
    if pa.types.is_date(kind):
        return dt.date.fromisoformat(value[:10])
    if pa.types.is_timestamp(kind):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("tag", help="suffix of the new files, e.g. delta01")
    parser.add_argument("--every", type=int, default=100, help="re-send every Nth row (100: 1 %%)")
    parser.add_argument("--change", type=float, default=0.0, help="share of re-sent rows with a changed value")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every must be >= 1")
    if not 0.0 <= args.change <= 1.0:
        parser.error("--change must be between 0 and 1")
    written = resend(args.landing, args.tag, args.every, args.change, args.seed)
    for name, rows in written.items():
        print(f"{name}: {rows} rows")
    print(f"total: {sum(written.values())} rows in {len(written)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
