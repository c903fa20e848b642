"""Write a legacy-history CSV for `certsvc import-certifications`, addressed to the people
`bench.province` generated (same deterministic ID numbers).

    python -m bench.legacy_csv --rows 1000000 --recipients 1000000 --out bench/out/history.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.services.certifications.imports import COLUMNS
from bench.province import face_details, id_number_for


def write_history(
    out: Path,
    rows: int,
    recipients: int,
    province: str = "14",
    *,
    source_prefix: str = "legacy-",
    stride: int = 1,
) -> None:
    """Row n is a passed face check of recipient (n × stride) mod recipients, source_ref
    ``{source_prefix}{n}``; a stride coprime with ``recipients`` spreads a short file over the
    whole province (bench.import_rate)."""
    rng = random.Random(11)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in range(rows):
            occurred = start + timedelta(minutes=rng.randrange(60 * 24 * 365 * 6))
            writer.writerow(
                [
                    id_number_for(row * stride % recipients, province),
                    "face",
                    "passed",
                    occurred.isoformat(),
                    f"{source_prefix}{row}",
                    json.dumps(face_details(rng)),
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--province", default="14")
    parser.add_argument("--out", type=Path, default=Path("bench/out/history.csv"))
    args = parser.parse_args()
    write_history(args.out, args.rows, args.recipients, args.province)
    print(f"wrote {args.rows:,} rows to {args.out}")


if __name__ == "__main__":
    main()
