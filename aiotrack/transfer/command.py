"""The ``aiotrack import`` command line (argparse only: imported whenever the CLI parser is built)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from aiotrack.transfer.importer import ImportReport

_DESCRIPTION = """\
Copy experiments, runs (params, metrics, tags, inputs), logged models, the model registry
and traces from the backend store SRC into the database DST, keeping ids, timestamps and
artifact locations (artifacts themselves stay where they are).

SRC is any backend store URI aiotrack serves: an ./mlruns directory (or file:// URI),
sqlite:///mlflow.db, postgresql://..., mysql://... DST is a database URI; an empty database
gets aiotrack's (= MLflow's) schema. Rows already in DST are skipped, never changed: an
interrupted import resumes by running the same command again, and a second run adds nothing.

Examples:
  aiotrack import ./mlruns sqlite:///mlflow.db
  aiotrack import sqlite:///mlflow.db postgresql://mlflow@db.example/mlflow
"""


def add_command(commands: Any) -> None:
    """Add the ``import`` subcommand to the ``aiotrack`` subparsers ``commands``."""
    imp = commands.add_parser(
        "import",
        add_help=False,
        help="Copy everything from one backend store into a database (file -> SQL, SQL -> SQL).",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [OPTIONS] SRC DST",
    )
    imp.add_argument("source", metavar="SRC", help="Backend store to copy from.")
    imp.add_argument("destination", metavar="DST", help="Database to copy into.")
    imp.add_argument(
        "--chunk-rows",
        type=_positive,
        default=20_000,
        metavar="N",
        help="Rows written per transaction. [default: 20000]",
    )
    imp.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="Do not draw the progress bar (the summary is still printed).",
    )
    imp.add_argument("--help", action="help", help="Show this message and exit.")
    imp.set_defaults(command_parser=imp, handler=run)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive integer")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``aiotrack import`` with the parsed ``args``; return the exit status.

    0 when everything was copied; 1 when anything could not be (the summary lists it); 2 for a
    usage error; 130 when interrupted (running the command again resumes).
    """
    from sqlalchemy.exc import DBAPIError

    from aiotrack.store.sql.migrate import SchemaError
    from aiotrack.transfer.importer import ImportFailed, Interrupted, import_store
    from aiotrack.transfer.progress import BarProgress

    parser: argparse.ArgumentParser = args.command_parser
    bar = BarProgress(sys.stderr, enabled=args.progress)
    stop = threading.Event()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("\naiotrack import: stopping after this chunk (Ctrl-C again: at once)\n")

    in_main = threading.current_thread() is threading.main_thread()  # where signals land
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        report = asyncio.run(
            import_store(
                args.source,
                args.destination,
                progress=bar,
                chunk_rows=args.chunk_rows,
                stop=stop,
            )
        )
    except (KeyboardInterrupt, Interrupted):
        bar.close()
        sys.stderr.write(
            "\naiotrack import: interrupted. What was committed stays; run the same command "
            "again to resume.\n"
        )
        return 130
    except ImportFailed as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
    except (SchemaError, OSError) as exc:
        sys.stderr.write(f"aiotrack import: error: {exc}\n")
        return 1
    except DBAPIError as exc:  # e.g. an unknown database, refused credentials
        bar.close()
        sys.stderr.write(f"aiotrack import: error: the database refused: {exc.orig}\n")
        return 1
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    print_summary(report, sys.stderr)
    return 1 if report.problems else 0


def print_summary(report: ImportReport, out: TextIO) -> None:
    """The table of rows read and added per table, renumbered experiments and problems."""
    out.write(f"\nImported {report.source} -> {report.destination} in {report.seconds:.1f} s\n")
    tables = sorted(set(report.read) | set(report.added))
    if tables:
        width = max(len(t) for t in tables)
        out.write(f"  {'table':<{width}}  {'read':>12}  {'new':>12}\n")
        for t in tables:
            out.write(
                f"  {t:<{width}}  {report.read.get(t, 0):>12,}  {report.added.get(t, 0):>12,}\n"
            )
    else:
        out.write("  nothing to copy\n")
    for file_id, sql_id in report.renumbered.items():
        out.write(f"  experiment {file_id} is experiment {sql_id} in the destination\n")
    if report.problems:
        out.write(f"{len(report.problems)} problem(s); the rest was imported:\n")
        for p in report.problems:
            out.write(f"  {p.what}: {p.error}\n")
    else:
        out.write("Done: everything was imported.\n")
