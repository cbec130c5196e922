"""The ``avalanche-clip`` command and the examples' entry point.

    avalanche-clip run [--config FILE.yaml] [--option value ...]   # one run of the protocol (--resume: continue it)
    avalanche-clip report RUN_DIR... [--output DIR]                 # the paper's tables and plots

Each command's options are its function's signature (``experiment.run``, ``report``): types,
defaults and docstrings become the parser, the ``--help`` and the YAML config schema. Only the
chosen command's parser is built, so ``report`` does not import the training stack.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser, set_parsing_settings

logger = logging.getLogger(__name__)


def report(run_dirs: list[str], output: str = "report") -> None:
    """Write the paper's tables (markdown, CSV) and plots from run directories.

    Args:
        run_dirs: run directories, each holding run.json and results.json.
        output: the directory to write results.md, results.csv and the PNG plots to.
    """
    from .results import write_report  # imports avalanche: only when the command runs

    files = write_report(run_dirs, output)
    logger.info("Wrote %s, %s and %d plots.", files.markdown, files.csv, len(files.plots))


def report_command(args: Sequence[str] | None = None) -> None:
    """Parse ``args`` for :func:`report` and run it."""
    parser = ArgumentParser(prog="avalanche-clip report", description=report.__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=str,
                        help="Run directories, each holding run.json and results.json.")
    parser.add_function_arguments(report, skip={"run_dirs"})
    config = parser.parse_args(args)
    report(config.run_dirs, config.output)


def run_parser(default_config: str | Path | None = None) -> ArgumentParser:
    """The parser of ``experiment.run``; ``default_config`` (a YAML file) sets its defaults."""
    from .benchmarks import MTILSource, PaperData
    from .benchmarks.world import WorldData
    from .experiment.runner import run

    # subclass mode keeps the data source's class_path in dumped configs, so they parse again
    set_parsing_settings(docstring_parse_attribute_docstrings=True,
                         subclasses_enabled=[WorldData, PaperData, MTILSource])
    parser = ArgumentParser(
        prog="avalanche-clip run",
        description=run.__doc__.splitlines()[0],
        default_config_files=[str(default_config)] if default_config else None,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="A YAML config (examples/configs/*.yaml).")
    parser.add_function_arguments(run, skip={"resolved_config", "resume", "overwrite"})
    # flags: "--resume" alone (or "resume: true" in a config file)
    parser.add_argument("--resume", action=ActionYesNo, default=False,
                        help="Continue the run in --output_dir from its newest good checkpoint (same config).")
    parser.add_argument("--overwrite", action=ActionYesNo, default=False,
                        help="Replace the results of an earlier run in --output_dir.")
    return parser


def parse_run_arguments(parser: ArgumentParser, args: Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
    """The keyword arguments of ``experiment.run`` from ``args``, and the resolved config as YAML.

    Anything wrong in the command line or the config files, found by the parser or by the checks
    of the argument groups and plugins as they are built (``training.epochs must be an integer
    >= 1``, ``alpha must be ... >= 0``), exits with the parser's usage line and that message
    (``SystemExit`` 2), never a traceback.
    """
    try:
        config = parser.parse_args(args)  # its own errors exit; a few (a NUL byte in a path) raise
        # resume and overwrite say what to do with the run directory, not what the run is
        resolved = parser.dump(config.clone().update(False, "resume").update(False, "overwrite"), skip_none=False)
        objects = parser.instantiate(config)
    except (ValueError, TypeError) as error:
        parser.error(f"{type(error).__name__}: {error}")
    return {key: objects[key] for key in objects.keys() if "." not in key and key != "config"}, resolved


def run_command(args: Sequence[str] | None = None, *, default_config: str | Path | None = None) -> dict[str, Any]:
    """Parse ``args`` for ``experiment.run``, run it, and return its results.

    The resolved configuration (defaults, config files and command line together) is saved as
    the run directory's ``config.yaml``; ``--config`` of that file reproduces the run, and with
    ``--resume`` continues it after a crash.
    """
    from .experiment.runner import run

    arguments, resolved = parse_run_arguments(run_parser(default_config), args)
    return run(**arguments, resolved_config=resolved)


COMMANDS: dict[str, Callable[[Sequence[str]], Any]] = {"run": run_command, "report": report_command}
"""Command name -> its entry point, called with the remaining arguments."""


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``avalanche-clip`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if args is None else args)
    if not args or args[0] not in COMMANDS:
        names = " | ".join(COMMANDS)
        print(f"usage: avalanche-clip {{{names}}} [--help] ...\n\n{__doc__.splitlines()[0]}\n\n"
              f"{chr(10).join(line for line in __doc__.splitlines()[2:4])}", file=sys.stderr)
        raise SystemExit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    COMMANDS[args[0]](args[1:])


__all__ = ["COMMANDS", "main", "parse_run_arguments", "report", "report_command", "run_command", "run_parser"]
