"""``python -m bench [--quick] [--only NAME,…] [--markdown FILE]``: run the benchmarks and
print the table."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

from .common import Row, table

BENCHMARKS = ("poll", "ack", "cache", "throughput", "notify", "callback", "memory", "database",
              "scaleout")


def run(names: list[str], quick: bool) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"running {name}…", file=sys.stderr, flush=True)
        rows.extend(module.run(quick=quick))
        print(f"  {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated benchmarks (default: all)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    # The bot logs each poll failure and rate limit; the table is the output here.
    logging.basicConfig(level=logging.ERROR)
    text = table(run(names, args.quick))
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
