"""The ``ganprior`` command line: parse, call the library, report. No algorithm lives here.

Each sub-command is a module in ``ganprior.commands`` with ``register(subparsers)`` (adds its
parser and sets ``run``); ``run(args) -> int`` does the work. Only the module of the command being
run is imported (``ganprior --help`` imports none). A ``GanpriorError`` becomes one line on stderr
and exit status 2, as does an ``OSError`` (a full or read-only disk: the machine's side, not a bug).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from .commands import COMMANDS
from .errors import GanpriorError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 already; keep its one-line form
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of ``command`` (every command: ``"*"``); the others are
    listed by name and help only."""
    parser = _Parser(
        prog="ganprior",
        description="Restore, edit and inspect images with a pretrained GAN as the image prior.",
        epilog="Run `ganprior COMMAND --help` for the options of each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_line in COMMANDS.items():
        if command in (name, "*"):
            importlib.import_module(f".commands.{name}", __package__).register(sub)
        else:
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _command(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a run like Ctrl-C: whole files only, a report of what was done


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    parser = build_parser(_command(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (already printed, status 2)
        return int(exc.code or 0)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except GanpriorError as exc:
        print(f"ganprior {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's side: a full or read-only disk, a vanished file
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"ganprior {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
