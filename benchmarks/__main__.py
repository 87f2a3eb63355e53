"""``python -m benchmarks SUITE``: run one benchmark suite and write its tables (NAME.md + NAME.json).

Existing tables are refused before anything runs unless ``--overwrite``; a ``GanpriorError`` is one
line on stderr and exit status 2, as in the ``ganprior`` command.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ganprior.errors import GanpriorError
from ganprior.pipeline import resolve_device

from .common import BenchOptions, write_tables
from .suites import SUITES


def build_parser() -> argparse.ArgumentParser:
    suites = "\n".join(f"  {name:14s} {suite.help}" for name, suite in SUITES.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Run a seeded benchmark suite and write its tables (NAME.md + NAME.json).\n\nsuites:\n{suites}",
    )
    parser.add_argument("suite", choices=list(SUITES), help="which suite to run")
    parser.add_argument(
        "--out", default="benchmarks/results", help="folder for the tables (default benchmarks/results)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing tables of the same name")
    parser.add_argument(
        "--quick", action="store_true", help="few images and steps: a smoke run, not for reporting"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(argv: list[str]) -> list[Path]:
    """Run the suite ``argv`` names; returns the markdown tables written."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    resolve_device(args.device)
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} is a file; give a folder")
    suite = SUITES[args.suite]
    options = BenchOptions(out=out, device=args.device, quick=args.quick, seed=args.seed)
    names = suite.table_names(options)
    existing = [out / f"{n}{ext}" for n in names for ext in (".md", ".json") if (out / f"{n}{ext}").exists()]
    if existing and not args.overwrite:
        raise GanpriorError(f"{existing[0]} exists; pass --overwrite to replace it, or choose another --out")
    tables = suite.run(options)
    if [t.name for t in tables] != names:
        raise RuntimeError(f"suite {suite.name} declares {names} but made {[t.name for t in tables]}")
    return write_tables(tables, out, "python -m benchmarks " + shlex.join(argv))


def main(argv: list[str] | None = None) -> int:
    try:
        for path in run(sys.argv[1:] if argv is None else argv):
            print(path)
    except GanpriorError as exc:
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
