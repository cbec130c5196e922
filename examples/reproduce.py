"""The paper's tables on the embedded world: every method under OST and MST, WM / IO / TO, and MTIL.

Runs FT, LwF, GeoDL (also with its authors' kernel), IMM, RKR and VR-LwF, and WiSE-FT, ZSCL and
MoE-Adapters (also with its authors' class-incremental routing, ``MoE-Adapters-shared``) beyond
the paper, in each protocol and variant, Joint-FT as the MST upper bound (the original model is
every run's first measurement), each through the same runner and defaults as
``ost_finetune.py`` / ``mst_vrlwf.py`` / ``mtil.py``, then writes the tables (markdown, CSV) and
plots, and ``timings.json``. A run that already finished is not repeated, so an interrupted
reproduction continues where it stopped.

    python examples/reproduce.py                          # OST and MST, seed 0
    python examples/reproduce.py --seeds '[0, 1, 2]' --variants '[whole]'
    python examples/reproduce.py --protocols '[mtil]' --variants '[whole]'   # the world's MTIL table
    torchrun --nproc_per_node=2 examples/reproduce.py     # every run on 2 processes

The README's reproduction table is this script's report/results.md, with the seed and timings.
"""

import json
import logging
import time
from pathlib import Path

import yaml
from avalanche.distributed import DistributedHelper
from jsonargparse import auto_cli

from avalanche_clip._atomic import atomic_write_text
from avalanche_clip.cli import run_command
from avalanche_clip.configs import config_path as shipped_config
from avalanche_clip.distributed import call_on_main
from avalanche_clip.results import write_report

CONFIGS = {"ost": "ost_finetune", "mst": "mst_vrlwf", "joint": "mst_vrlwf", "mtil": "mtil"}
"""Protocol -> the shipped config its runs start from (``avalanche-clip configs``)."""


def plugin(name: str, **init_args) -> dict:
    """A plugin of the config's ``plugins`` list: an ``avalanche_clip.training`` class and its arguments."""
    return {"class_path": f"avalanche_clip.training.{name}", "init_args": init_args}


PLUGINS = {
    "FT": [],
    "LwF": [plugin("LwFPlugin")],
    "GeoDL": [plugin("GeoDLPlugin")],
    "GeoDL-authors": [plugin("GeoDLPlugin", kernel="authors")],
    "IMM": [plugin("IMMPlugin")],
    "RKR": [plugin("RKRPlugin")],
    "VR-LwF": [plugin("VRLwFPlugin")],
    "WiSE-FT": [plugin("WiSEFTPlugin")],
    "ZSCL": [plugin("ZSCLPlugin")],
    "MoE-Adapters": [plugin("MoEAdaptersPlugin")],
    "MoE-Adapters-shared": [plugin("MoEAdaptersPlugin", routing="shared", num_experts=2)],
}
"""Method label -> the plugins of its runs."""
ZSCL_WE_EVERY = {"ost": 10, "mst": 2, "mtil": 2}
"""ZSCL's weight-ensembling period on the world. The authors average every 100 of a session's
1000 steps (11 snapshots and the start); the world's sessions have 100 (OST), 14 (MST) and 12-60
(MTIL) steps, so the period keeps about as many snapshots per session."""
MOE_LR_FACTOR = 30.0
"""MoE-Adapters' learning rate relative to the others: its new experts and routers start from zero
and train at the authors' ~1e-3 (the world's fine-tuning lr is 3e-5)."""
NOT_UNDER = {"MoE-Adapters": ("text",), "MoE-Adapters-shared": ("text",)}
"""Variants a method refuses (MoE-Adapters adapts the image tower, which TO freezes)."""

logger = logging.getLogger(__name__)


def runs(methods, protocols, variants) -> list[tuple[str, str, str]]:
    """``(protocol, variant, method)`` of every run; Joint-FT joins MST."""
    planned = [(p, v, m) for p in protocols for v in variants for m in methods if v not in NOT_UNDER.get(m, ())]
    if "mst" in protocols:
        planned += [("joint", v, "Joint-FT") for v in variants]
    return planned


def arguments(protocol: str, variant: str, method: str, seed: int, run_dir: Path, rkr_lr_factor: float,
              threads: int | None) -> list[str]:
    """The command line of one run, on top of its protocol's example config (a half-written run is redone)."""
    args = ["--output_dir", str(run_dir), "--overwrite", "--seed", str(seed), "--model.update", variant,
            "--plugins", json.dumps(PLUGINS.get(method, [])), "--evaluation.tensorboard", "false"]
    if protocol == "joint":
        args += ["--protocol.name", "joint"]
    factor = lr_factor(method, rkr_lr_factor)
    if factor != 1.0:
        lr = yaml.safe_load(config_path(protocol).read_text())["training"]["lr"]
        args += ["--training.lr", str(lr * factor)]
    if method == "ZSCL":
        args += ["--plugins.we_every", str(ZSCL_WE_EVERY[protocol])]
    if threads is not None:
        args += ["--training.threads", str(threads)]
    return args


def lr_factor(method: str, rkr_lr_factor: float) -> float:
    """A method's learning rate relative to FT's: RKR's the paper's 10x, MoE-Adapters' :data:`MOE_LR_FACTOR`."""
    return {"RKR": rkr_lr_factor, "MoE-Adapters": MOE_LR_FACTOR, "MoE-Adapters-shared": MOE_LR_FACTOR}.get(method, 1.0)


def config_path(protocol: str) -> Path:
    """The shipped config a protocol's runs start from."""
    return shipped_config(CONFIGS[protocol])


def main(output_dir: str = "runs/reproduce", seeds: tuple[int, ...] = (0,), methods: tuple[str, ...] = tuple(PLUGINS),
         protocols: tuple[str, ...] = ("ost", "mst"), variants: tuple[str, ...] = ("whole", "image", "text"),
         rkr_lr_factor: float = 10.0, threads: int | None = None) -> None:
    """Run every configuration, then write the tables and plots.

    Args:
        output_dir: one run directory per configuration goes here, and the report in ``report/``.
        seeds: run seeds; the report averages over them.
        methods: method labels among FT, LwF, GeoDL, GeoDL-authors, IMM, RKR, VR-LwF, WiSE-FT, ZSCL,
            MoE-Adapters, MoE-Adapters-shared.
        protocols: ``ost``, ``mst`` (adds Joint-FT) and/or ``mtil`` (the world's domains; use it with
            ``--variants '[whole]'``).
        variants: ``whole`` (WM), ``image`` (IO), ``text`` (TO).
        rkr_lr_factor: RKR's learning rate relative to the others (the paper: 1e-5 vs 1e-6).
        threads: torch CPU threads of every run (default: the example configs' setting).
    """
    unknown = sorted(set(methods) - set(PLUGINS))
    if unknown:
        raise ValueError(f"Unknown methods {unknown}. Available: {', '.join(PLUGINS)}.")
    root = Path(output_dir)
    timings_path = root / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    directories = []
    for seed in seeds:
        for protocol, variant, method in runs(methods, protocols, variants):
            name = f"{protocol}_{variant}_{method.lower()}_seed{seed}"
            run_dir = root / name
            directories.append(run_dir)
            if call_on_main((run_dir / "report" / "results.md").exists):
                continue  # finished earlier (under torchrun, as the main process sees it)
            started = time.perf_counter()
            run_command(arguments(protocol, variant, method, seed, run_dir, rkr_lr_factor, threads),
                        default_config=config_path(protocol))
            timings[name] = round(time.perf_counter() - started, 1)
            if DistributedHelper.is_main_process:
                atomic_write_text(timings_path, json.dumps(timings, indent=2) + "\n")
    if not DistributedHelper.is_main_process:
        return
    files = write_report(directories, root / "report")
    logger.info("%d runs, %.0f s of training and evaluation; tables in %s", len(directories),
                sum(timings.values()), files.markdown)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    auto_cli(main)
