"""Benchmark the demo data generator: wall time, rows and bytes written, peak RSS.

Why: the generator promises to scale to 10M orders with flat memory; this script is how
the numbers in docs/generator.md were measured, and how to re-check them.

    .venv/bin/python bench/bench_generate.py 1000000
    .venv/bin/python bench/bench_generate.py 10000000 --tmp-dir /data/tmp

Output goes to a temporary directory that is deleted afterwards (unless ``--keep``):
10M orders write about 13 GB.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.lab.generate import generate  # noqa: E402


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=int, help="number of orders to generate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--format", default="mixed", choices=("mixed", "csv", "parquet", "jsonl"))
    parser.add_argument("--tmp-dir", default=None, help="where to write (default: system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    out = Path(tempfile.mkdtemp(prefix="recon-bench-", dir=args.tmp_dir))
    try:
        result = generate(out, seed=args.seed, orders=args.orders, chunk_size=args.chunk_size, file_format=args.format)
        report = {
            "orders": args.orders,
            "chunk_size": args.chunk_size,
            "format": args.format,
            "seconds": round(result.seconds, 1),
            "orders_per_second": round(args.orders / result.seconds),
            "rows": result.rows,
            "rows_total": sum(result.rows.values()),
            "files": len(result.files),
            "landing_bytes": _size(out / "landing"),
            "ground_truth_bytes": _size(out / "ground_truth"),
            # Linux reports ru_maxrss in KiB.
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "python": platform.python_version(),
        }
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)

    if args.json:
        print(json.dumps(report))
        return 0
    print(f"orders            {report['orders']:>15,}   (chunk size {report['chunk_size']:,}, {report['format']})")
    print(f"wall time         {report['seconds']:>15,.1f} s ({report['orders_per_second']:,} orders/s)")
    print(f"peak RSS          {report['peak_rss_mib']:>15,} MiB")
    print(f"landing bytes     {report['landing_bytes']:>15,}  in {report['files']:,} files")
    print(f"ground truth      {report['ground_truth_bytes']:>15,}")
    print(f"rows total        {report['rows_total']:>15,}")
    for table, n in report["rows"].items():
        print(f"  {table:<28}{n:>13,}")
    if args.keep:
        print(f"kept in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
