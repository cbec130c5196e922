"""The ``avalanche-clip`` command and the examples' entry point.

    avalanche-clip run [--config NAME|FILE.yaml] [--option value ...]   # one run (default config: mst_vrlwf)
    avalanche-clip report RUN_DIR... [--output DIR]                      # the paper's tables and plots
    avalanche-clip configs                                               # the shipped configs, by name

Each command's options are its function's signature (``experiment.run``, ``report``): types,
defaults and docstrings become the parser, the ``--help`` and the YAML config schema. Only the
chosen command's parser is built, so ``report`` does not import the training stack. A user's
mistake (a bad option, a missing file, an existing run directory) ends the command with one
``error: ...`` line and exit status 2; ``--debug`` (or ``AVALANCHE_CLIP_DEBUG=1``) shows the
traceback instead. ``python -m avalanche_clip`` is the same command.
"""

from __future__ import annotations

import logging
import os
import sys
from argparse import ArgumentError
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser, set_parsing_settings

from .configs import config_path, config_summary, list_configs

logger = logging.getLogger(__name__)

MAIN_CONFIG = "mst_vrlwf"
"""The shipped config ``avalanche-clip run`` starts from: the main job."""
DEBUG_VARIABLE = "AVALANCHE_CLIP_DEBUG"
"""Set to 1 to see the traceback of a user's mistake (as ``--debug`` does)."""
USER_ERRORS = (ValueError, TypeError, OSError, ArgumentError)
"""The errors the library raises for bad input (the checks of _checks.py, missing files, the parser's)."""


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
    parser = ArgumentParser(prog="avalanche-clip report", description=report.__doc__.splitlines()[0],
                            exit_on_error=False)
    parser.add_argument("run_dirs", nargs="+", type=str,
                        help="Run directories, each holding run.json and results.json.")
    parser.add_function_arguments(report, skip={"run_dirs"})
    config = parser.parse_args(args)
    report(config.run_dirs, config.output)


def configs_command(args: Sequence[str] | None = None) -> None:
    """Print the shipped configs, one per line: the name ``--config`` takes, and what the run is."""
    parser = ArgumentParser(prog="avalanche-clip configs", description=configs_command.__doc__, exit_on_error=False)
    parser.parse_args(args)
    names = list_configs()
    width = max(map(len, names))
    print("\n".join(f"{name:<{width}}  {config_summary(name)}" for name in names))


def config_file(name_or_path: str | os.PathLike) -> Path:
    """A config's file: an existing YAML file's path, or the name of a shipped config (``mst_vrlwf``)."""
    path = Path(name_or_path)
    return path if path.is_file() else config_path(str(name_or_path))


class ConfigFileOrName(ActionConfigFile):
    """``--config``: a YAML file, or the name of a shipped config (``avalanche-clip configs`` lists them)."""

    def __call__(self, parser, cfg, values, option_string=None):
        text = str(values)
        if not Path(text).is_file() and not any(mark in text for mark in ("/", "\\", ":", "\n", "{")):
            values = str(config_path(text))  # a bare word: a shipped config, or an error naming them
        super().__call__(parser, cfg, values, option_string)


def run_parser(default_config: str | Path | None = None) -> ArgumentParser:
    """The parser of ``experiment.run``; ``default_config`` (a shipped config's name, or a YAML file) sets defaults."""
    from .benchmarks import MTILSource, PaperData
    from .benchmarks.world import WorldData
    from .experiment.runner import run

    # subclass mode keeps the data source's class_path in dumped configs, so they parse again
    set_parsing_settings(docstring_parse_attribute_docstrings=True,
                         subclasses_enabled=[WorldData, PaperData, MTILSource])
    parser = ArgumentParser(
        prog="avalanche-clip run",
        description=run.__doc__.splitlines()[0],
        default_config_files=[str(config_file(default_config))] if default_config else None,
        exit_on_error=False,
    )
    parser.add_argument("--config", action=ConfigFileOrName,
                        help=f"A shipped config's name ({', '.join(list_configs())}) or a YAML file.")
    parser.add_function_arguments(run, skip={"resolved_config", "resume", "overwrite", "verbose"})
    # flags: "--resume" alone (or "resume: true" in a config file)
    parser.add_argument("--resume", action=ActionYesNo, default=False,
                        help="Continue the run in --output_dir from its newest good checkpoint (same config).")
    parser.add_argument("--overwrite", action=ActionYesNo, default=False,
                        help="Replace the results of an earlier run in --output_dir.")
    parser.add_argument("--verbose", action=ActionYesNo, default=False,
                        help="Also print Avalanche's metric blocks (each experience's values, as log.txt has them).")
    return parser


def parse_run_arguments(parser: ArgumentParser, args: Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
    """The keyword arguments of ``experiment.run`` from ``args``, and the resolved config as YAML.

    Anything wrong in the command line or the config files, found by the parser or by the checks
    of the argument groups and plugins as they are built (``training.epochs must be an integer
    >= 1``, ``alpha must be ... >= 0``), raises a ValueError whose message is that check's own
    (see :func:`one_line`), before anything is built.
    """
    try:
        config = parser.parse_args(args)
        # resume, overwrite and verbose say what to do with the run directory and the console, not what the run is
        unsaid = config.clone().update(False, "resume").update(False, "overwrite").update(False, "verbose")
        resolved = parser.dump(unsaid, skip_none=False)
        objects = parser.instantiate(config)
    except (ArgumentError, ValueError, TypeError) as error:
        raise ValueError(one_line(error)) from error
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


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line; for a parser's nested report, the innermost check's own words.

    jsonargparse reports a failed ``list[Plugin] | None`` as "Does not validate against any of
    the Union subtypes" followed by each subtype's error; the plugin's (``alpha must be >= 0``)
    is the one that says what is wrong.
    """
    raw = [line for line in str(error).splitlines() if line.strip()]
    lines = [line.strip() for line in raw]
    # the innermost causes first: an outer one only says that a nested Union did not validate
    nested = sorted((-(len(line) - len(line.lstrip())), i) for i, line in enumerate(raw)
                    if line.lstrip().startswith("- "))
    causes = [lines[i][2:] for _, i in nested]
    # the other subtypes' refusals only say that the value is not of their type
    own = [cause for cause in causes if not cause.startswith(("Expected a <class", "Does not validate against"))
           and "does not correspond to a subclass of" not in cause]
    key = next((line.removesuffix(":") for line in lines if line.startswith("Parser key")), None)
    if causes:
        cause = (own or causes)[0]
        return f"{key.removeprefix('Parser key ')}: {cause}" if key else cause
    return " ".join(lines) or type(error).__name__


COMMANDS: dict[str, Callable[[Sequence[str]], Any]] = {
    "run": run_command, "report": report_command, "configs": configs_command,
}
"""Command name -> its entry point, called with the remaining arguments."""


def main(args: Sequence[str] | None = None, *, default_config: str | Path = MAIN_CONFIG) -> None:
    """Entry point of the ``avalanche-clip`` console script; ``default_config`` is where ``run`` starts."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in args or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    args = [arg for arg in args if arg != "--debug"]
    if not args or args[0] not in COMMANDS:
        names = " | ".join(COMMANDS)
        print(f"usage: avalanche-clip {{{names}}} [--help] [--debug] ...\n\n{__doc__.splitlines()[0]}\n\n"
              f"{chr(10).join(__doc__.splitlines()[2:5])}", file=sys.stderr)
        raise SystemExit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    commands = {**COMMANDS, "run": partial(run_command, default_config=default_config)}
    try:
        commands[args[0]](args[1:])
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"error: {one_line(error)}  (--debug shows the traceback)", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["COMMANDS", "ConfigFileOrName", "DEBUG_VARIABLE", "MAIN_CONFIG", "USER_ERRORS", "config_file",
           "configs_command", "main", "one_line", "parse_run_arguments", "report", "report_command", "run_command",
           "run_parser"]

if __name__ == "__main__":
    main()
