"""The ``aiotrack gc`` command line (argparse only: imported whenever the CLI parser is built).

The options are ``mlflow gc``'s (MLflow 3.17.2); see `aiotrack.gc.options` for how they are
resolved and `aiotrack.gc.collector` for what is deleted. Exit status: 0 when everything
selected was deleted, 1 when something could not be (the rest is still collected; a request
that names a run, model or experiment that may not be deleted stops before deleting
anything), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from aiotrack.gc.options import DEFAULT_ARTIFACTS_DESTINATION, UsageError, resolve

__all__ = ["add_command", "run"]

_DESCRIPTION = """\
Permanently delete runs in the `deleted` lifecycle stage from the specified backend store.
This command deletes all artifacts and metadata associated with the specified runs, then the
deleted logged models and the deleted experiments (with all their runs), as `mlflow gc` does.

Examples:
  # Delete all runs that have been in the deleted state for more than 30 days
  aiotrack gc --older-than 30d
  # Delete specific runs by ID (they must be in deleted state)
  aiotrack gc --run-ids 'run1,run2,run3'
  # Delete deleted experiments 1 and 2 with all their runs (plus every other deleted run)
  aiotrack gc --experiment-ids '1,2'
  # Delete all finished jobs older than 7 days as well
  aiotrack gc --jobs --older-than 7d

Per-item lines ("Run with ID ... has been permanently deleted.") go to stdout as with
`mlflow gc`; the plan, warnings, errors and the summary go to stderr.
"""


def add_command(commands: Any) -> None:
    """Add the ``gc`` subcommand to the ``aiotrack`` subparsers ``commands``."""
    gc = commands.add_parser(
        "gc",
        add_help=False,
        allow_abbrev=False,
        help="Permanently delete runs and experiments in the `deleted` lifecycle stage.",
        description=_DESCRIPTION,
        usage="%(prog)s [OPTIONS]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gc.add_argument(
        "--older-than",
        metavar="#d#h#m#s",
        help="Optional. Remove run(s) older than the specified time limit. Specify a string in "
        "#d#h#m#s format. Float values are also supported. For example: --older-than 1d2h3m4s, "
        "--older-than 1.2d3h4m5s",
    )
    gc.add_argument(
        "--backend-store-uri",
        metavar="PATH",
        help="URI of the backend store from which to delete runs: a database "
        "(sqlite:///path/to/file.db, postgresql://..., mysql://...) or a file store "
        "(./mlruns, file:///absolute/path). Default: MLFLOW_TRACKING_URI when it names a store, "
        "else ./mlruns when it holds experiments, else sqlite:///mlflow.db.",
    )
    gc.add_argument(
        "--artifacts-destination",
        metavar="URI",
        help="Where the server stores proxied artifacts (a local path, file: or s3:// URI): "
        "runs whose artifact URI is mlflow-artifacts:/... have their artifacts deleted under "
        "it. [env: MLFLOW_ARTIFACTS_DESTINATION] [default: the tracking server given by "
        f"--tracking-uri if it is http(s), else {DEFAULT_ARTIFACTS_DESTINATION}]",
    )
    gc.add_argument(
        "--run-ids",
        metavar="IDS",
        help="Optional comma separated list of runs to be permanently deleted. If run ids are "
        "not specified, data is removed for all runs in the `deleted` lifecycle stage.",
    )
    gc.add_argument(
        "--experiment-ids",
        metavar="IDS",
        help="Optional comma separated list of experiments to be permanently deleted including "
        "all of their associated runs. If experiment ids are not specified, data is removed for "
        "all experiments in the `deleted` lifecycle stage.",
    )
    gc.add_argument(
        "--logged-model-ids",
        metavar="IDS",
        help="Optional comma separated list of logged model IDs to be permanently deleted. If "
        "logged model IDs are not specified, data is removed for all logged models in the "
        "`deleted` lifecycle stage.",
    )
    gc.add_argument(
        "--jobs",
        action="store_true",
        help="Enable job cleanup. Without this flag, no jobs will be deleted. When enabled, all "
        "finished jobs are deleted unless filtered by --older-than or --job-ids. Database "
        "backends only.",
    )
    gc.add_argument(
        "--job-ids",
        metavar="IDS",
        help="Optional comma separated list of job IDs to be permanently deleted. Can be used "
        "with or without --jobs. With --older-than, only jobs matching both are deleted.",
    )
    gc.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="Tracking server (http://host:port) through which proxied artifacts are deleted "
        "when no --artifacts-destination is given, as `mlflow gc` does. [env: "
        "MLFLOW_TRACKING_URI]",
    )
    gc.add_argument(
        "--workspace",
        help="[aiotrack: not supported, workspaces are not available] [env: MLFLOW_WORKSPACE]",
    )
    gc.add_argument(
        "--all-workspaces",
        action="store_true",
        help="[aiotrack: not supported, workspaces are not available]",
    )
    gc.add_argument("--help", action="help", help="Show this message and exit.")
    gc.set_defaults(command_parser=gc, handler=run)


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    sys.stderr.write(f"{parser.prog}: error: {message}\n")
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``aiotrack gc`` with the parsed ``args``; return the exit status."""
    # Imported here, not at module level: the CLI builds this parser for every command.
    from aiotrack.cli import default_backend_store_uri
    from aiotrack.config import is_file_store_uri
    from aiotrack.store.sql.urls import ConfigError, to_async_url

    parser: argparse.ArgumentParser = args.command_parser
    try:
        options = resolve(vars(args), os.environ, default_backend_store_uri(Path.cwd()))
        if not is_file_store_uri(options.backend_store_uri):
            try:
                to_async_url(options.backend_store_uri)
            except ConfigError as exc:
                where = (
                    "" if options.backend_source == "default" else f" ({options.backend_source})"
                )
                raise UsageError(f"backend store{where}: {exc}") from None
    except UsageError as exc:
        return _usage_error(parser, str(exc))

    from aiotrack.gc.collector import main

    return main(options)
