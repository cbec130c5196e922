"""The ``avalanche-clip`` command.

Each subcommand is a parser (built from a function's signature and docstring) and the function
it calls; add one by adding an entry to :data:`SUBCOMMANDS`.

    avalanche-clip report RUN_DIR... [--output DIR]
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from jsonargparse import ArgumentParser, Namespace


def report(run_dirs: list[str], output: str = "report") -> None:
    """Write the paper's tables (markdown, CSV) and plots from run directories.

    Args:
        run_dirs: run directories, each holding run.json and results.json.
        output: the directory to write results.md, results.csv and the PNG plots to.
    """
    from .evaluation import write_report  # imports avalanche: only when the command runs

    files = write_report(run_dirs, output)
    logging.getLogger(__name__).info("Wrote %s, %s and %d plots.", files.markdown, files.csv, len(files.plots))


def _report_parser() -> ArgumentParser:
    parser = ArgumentParser(description=report.__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=str,
                        help="Run directories, each holding run.json and results.json.")
    parser.add_function_arguments(report, skip={"run_dirs"})
    return parser


def _run_report(config: Namespace) -> None:
    report(config.run_dirs, config.output)


SUBCOMMANDS: dict[str, tuple[Callable[[], ArgumentParser], Callable[[Namespace], None]]] = {
    "report": (_report_parser, _run_report),
}
"""Subcommand name -> (builds its parser, runs it with the parsed config)."""


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``avalanche-clip`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = ArgumentParser(prog="avalanche-clip", description="Continual learning for CLIP on Avalanche.")
    subcommands = parser.add_subcommands()
    for name, (build, _) in SUBCOMMANDS.items():
        subparser = build()
        subcommands.add_subcommand(name, subparser, help=subparser.description)
    config = parser.parse_args(args)
    _, run = SUBCOMMANDS[config.subcommand]
    run(config[config.subcommand])


__all__ = ["SUBCOMMANDS", "main", "report"]
