"""``ganprior bench``: run a benchmark suite and write its tables."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..bench import CORE_SUITES, BenchOptions, write_tables
from ..bench_dgp import DGP_SUITES
from ..bench_mgan import MGAN_SUITES
from ..bench_rgi import RGI_SUITES
from ..errors import GanpriorError
from ..pipeline import resolve_device

SUITES = CORE_SUITES | RGI_SUITES | DGP_SUITES | MGAN_SUITES


def register(sub: argparse._SubParsersAction) -> None:
    suites = "\n".join(
        f"  {name:14s} {(fn.__doc__ or '').strip().splitlines()[0]}" for name, fn in SUITES.items()
    )
    parser = sub.add_parser(
        "bench",
        help="run a benchmark suite, write markdown + JSON tables",
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
    parser.set_defaults(run=run)


def _own_arguments() -> list[str]:
    """The command line after ``bench`` (for the tables' reproduction line)."""
    argv = sys.argv[1:]
    return argv[argv.index("bench") + 1 :] if "bench" in argv else argv


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    resolve_device(args.device)
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} is a file; give a folder")
    options = BenchOptions(out=out, device=args.device, quick=args.quick, seed=args.seed)
    tables = SUITES[args.suite](options)
    existing = [out / f"{t.name}.md" for t in tables if (out / f"{t.name}.md").exists()]
    if existing and not args.overwrite:
        raise GanpriorError(f"{existing[0]} exists; pass --overwrite to replace it, or choose another --out")
    command = "ganprior bench " + " ".join(shlex.quote(a) for a in _own_arguments())
    for path in write_tables(tables, out, command):
        print(path)
    return 0
