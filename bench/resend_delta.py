"""Write a "1 % night" into a landing folder: every Nth row of each entity's chunk files,
re-sent as one new file per entity, byte for byte (the same keys: platform restatements,
CRM and billing re-exports). How the 1 % nights in docs/benchmarks.md were made.

    .venv/bin/python bench/resend_delta.py $RECON_HOME/landing delta01 [--every 100]

Late files, legacy exports and earlier deltas are not sampled.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def resend(landing: Path, tag: str, every: int = 100) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
                                writer.writerow(row)
                                rows += 1
        elif suffix == ".jsonl":
            with open(out, "w") as target:
                for chunk in chunks:
                    with open(chunk) as source:
                        for i, line in enumerate(source):
                            if i % every == 0:
                                target.write(line if line.endswith("\n") else line + "\n")
                                rows += 1
        elif suffix == ".parquet":
            parts = [pq.read_table(c) for c in chunks]
            table = pa.concat_tables(p.take(pa.array(range(0, p.num_rows, every))) for p in parts)
            pq.write_table(table, out)
            rows = table.num_rows
        else:
            continue
        written[str(out.relative_to(landing))] = rows
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("tag", help="suffix of the new files, e.g. delta01")
    parser.add_argument("--every", type=int, default=100, help="re-send every Nth row (100: 1 %%)")
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every must be >= 1")
    written = resend(args.landing, args.tag, args.every)
    for name, rows in written.items():
        print(f"{name}: {rows} rows")
    print(f"total: {sum(written.values())} rows in {len(written)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
