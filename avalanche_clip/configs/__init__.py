"""The shipped run configs: YAML files in this package, named by their file stem.

``avalanche-clip run --config mst_vrlwf`` reads ``mst_vrlwf.yaml`` from here; ``avalanche-clip
configs`` lists them; the example scripts start from the same files. A user adds one by passing
the path of their own YAML file to ``--config``.
"""

from __future__ import annotations

from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parent
"""Where the shipped configs are (inside the installed package)."""


def list_configs() -> list[str]:
    """The names of the shipped configs, sorted."""
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The file of the shipped config ``name`` (``mst_vrlwf``; ``.yaml`` may be given)."""
    path = CONFIGS_DIR / f"{str(name).removesuffix('.yaml')}.yaml"
    if not path.is_file():
        raise ValueError(f"Unknown config {name!r}. Available: {', '.join(list_configs())} (or a YAML file's path).")
    return path


def config_summary(name: str) -> str:
    """The first line of a shipped config's header comment: what the run is."""
    for line in config_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


__all__ = ["CONFIGS_DIR", "config_path", "config_summary", "list_configs"]
