"""Step time and peak memory of every method under WM, IO and TO, as ratios to fine-tuning (FT).

One training step (batch ``--batch`` on an OST task of ``--classes`` classes, random images) of
FT, LwF, VR-LwF, GeoDL, IMM, RKR, WiSE-FT, ZSCL and MoE-Adapters, each as the library runs it:
``CLIPStrategy`` with the method's plugin and an ``EvaluationPlugin`` (per-iteration loss and
accuracy), Adam (lr 1e-6; RKR 1e-5; MoE-Adapters 1e-3, the authors' range), gradient clipping at
1.0. Ratios are to FT under the same variant. ZSCL draws a reference batch as large as the
training batch from the world's reference scenes (any model: the step's cost does not depend on
the images), against every one of their captions. MoE-Adapters adapts the image tower, so it has
no TO row.

Time: per variant, the methods train interleaved in one process (see ``common.py``): one model
and one Adam are shared by all but RKR and MoE-Adapters (step costs do not depend on the weights'
values), which have their own copies (their surgery changes the model). What runs once per
session is reported apart, in seconds: the IMM and WiSE-FT merges (after the last step) and
MoE-Adapters' autoencoder fit (before the first). ZSCL's teacher features of the reference set
are computed once, at the session start (a warm-up step).

Peak memory: each (variant, method) runs alone in a fresh subprocess (``--probe``): warm-up
steps, then the peak resident set (CPU; CUDA: peak allocated) over the measured steps, everything
resident included (runtime, model, gradients, Adam state, teacher, activations). The ratio is also
given above the runtime (the resident set after the imports, before any model is built: ~1.1 GiB
of Python, torch and Avalanche), which is what a small model's ratio means.

Examples::

    python bench/step_cost.py --model world --threads 1
    python bench/step_cost.py --model ViT-B-32 --threads 1 --warmup 2 --repeats 5
    python bench/step_cost.py --model ViT-B-32 --device cuda --precision bf16 --batch 100 --repeats 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import common
import torch

from avalanche_clip.training import (
    CLIPStrategy,
    GeoDLPlugin,
    IMMPlugin,
    LwFPlugin,
    MoEAdaptersPlugin,
    RKRPlugin,
    VRLwFPlugin,
    WiSEFTPlugin,
    ZSCLPlugin,
)

METHODS = ("FT", "LwF", "VR-LwF", "GeoDL", "IMM", "RKR", "WiSE-FT", "ZSCL", "MoE-Adapters")
VARIANTS = {"whole": "WM", "image": "IO", "text": "TO"}
LEARNING_RATE = {"RKR": 1e-5, "MoE-Adapters": 1e-3}  # PROTOCOL.md section 7; 1e-6 for the others
SURGERY = ("RKR", "MoE-Adapters")
"""Methods that change the model's structure: each times on its own copy."""
NOT_UNDER = {"MoE-Adapters": ("text",)}
"""Variants a method refuses (MoE-Adapters adapts the image tower, which TO keeps)."""


def applicable(methods: list[str], variant: str) -> list[str]:
    """The methods that run under ``variant``."""
    return [m for m in methods if variant not in NOT_UNDER.get(m, ())]


def timed(plugin_class: type, callback: str) -> type:
    """``plugin_class`` recording in ``seconds`` how long its once-per-session ``callback`` takes."""

    def timed_callback(self, strategy, **kwargs):
        common.synchronize(strategy.device)
        start = time.perf_counter()
        getattr(plugin_class, callback)(self, strategy, **kwargs)
        common.synchronize(strategy.device)
        self.seconds = time.perf_counter() - start

    name = f"Timed{plugin_class.__name__}"
    return type(name, (plugin_class,), {"seconds": None, callback: timed_callback, "__qualname__": name})


TimedIMMPlugin = timed(IMMPlugin, "after_training_exp")
TimedWiSEFTPlugin = timed(WiSEFTPlugin, "after_training_exp")
TimedMoEAdaptersPlugin = timed(MoEAdaptersPlugin, "before_training_exp")
ONCE_PER_SESSION = {"IMM": ("imm_merge_s", "merge"), "WiSE-FT": ("wise_ft_merge_s", "merge"),
                    "MoE-Adapters": ("moe_selector_s", "autoencoder fit")}
"""Methods with work once per session -> its key in the results and what it is."""


def method_plugins(method: str) -> list:
    """The plugins of one method (FT: none)."""
    return {"FT": [], "LwF": [LwFPlugin()], "VR-LwF": [VRLwFPlugin()], "GeoDL": [GeoDLPlugin()],
            "IMM": [TimedIMMPlugin()], "RKR": [RKRPlugin()], "WiSE-FT": [TimedWiSEFTPlugin()],
            "ZSCL": [ZSCLPlugin()], "MoE-Adapters": [TimedMoEAdaptersPlugin()]}[method]


def make_strategy(model, optimizer, plugins: list, args: argparse.Namespace, device: torch.device) -> CLIPStrategy:
    return CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=args.batch, train_epochs=1,
                        eval_mb_size=args.batch, device=device, precision=args.precision, plugins=plugins,
                        evaluator=common.quiet_evaluator())


def adam(model, method: str) -> torch.optim.Adam:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE.get(method, 1e-6))


def loader_args(args: argparse.Namespace) -> dict:
    return dict(num_workers=args.num_workers, pin_memory=args.pin_memory)


def time_variant(variant: str, args: argparse.Namespace, device: torch.device) -> tuple[dict, dict]:
    """Step times of every method under ``variant``, interleaved; and the IMM merge time."""
    model = common.build_model(args.model, update=variant, device=device)
    methods = applicable(args.methods, variant)
    own = {method: common.clone(model) for method in methods if method in SURGERY}
    shared_optimizer = adam(model, "FT")
    names = common.class_names(args.model, args.classes)
    train = common.training_images(model, names, batch=args.batch, steps=args.warmup + args.repeats, seed=args.seed)
    experience = common.ost_experience(train, names, seed=args.seed)
    plugins = {method: method_plugins(method) for method in methods}

    def loop(method: str):
        def build(extra: list) -> CLIPStrategy:
            if method in own:
                return make_strategy(own[method], adam(own[method], method), plugins[method] + extra, args, device)
            return make_strategy(model, shared_optimizer, plugins[method] + extra, args, device)

        return common.strategy_loop(build, experience, args.warmup + args.repeats, **loader_args(args))

    times = common.Interleaved({m: loop(m) for m in methods}, device=device).run()
    extras = {key: plugins[method][0].seconds for method, (key, _) in ONCE_PER_SESSION.items() if method in plugins}
    return times, extras


def probe(args: argparse.Namespace) -> None:
    """``--probe VARIANT METHOD``: print the peak memory of one configuration as a JSON line."""
    variant, method = args.probe
    device = common.setup(args)
    runtime_mib = common.current_memory_mib(device)  # Python, torch, Avalanche: before any model
    model = common.build_model(args.model, update=variant, device=device)
    names = common.class_names(args.model, args.classes)
    steps = args.memory_warmup + args.memory_repeats
    train = common.training_images(model, names, batch=args.batch, steps=steps, seed=args.seed)
    experience = common.ost_experience(train, names, seed=args.seed)
    peak = common.PeakMemory(device, warmup=args.memory_warmup)
    plugins = method_plugins(method) + [peak, common.StopAfter(steps)]
    strategy = make_strategy(model, adam(model, method), plugins, args, device)
    strategy.train(experience, **loader_args(args))
    print(json.dumps({"variant": variant, "method": method, "runtime_mib": runtime_mib,
                      "before_mib": peak.before_mib, "peak_mib": max(peak.peaks_mib)}))


def probe_arguments(args: argparse.Namespace, variant: str, method: str) -> list[str]:
    arguments = ["--probe", variant, method, "--model", args.model, "--device", args.device,
                 "--precision", args.precision, "--batch", str(args.batch), "--seed", str(args.seed),
                 "--memory-warmup", str(args.memory_warmup), "--memory-repeats", str(args.memory_repeats)]
    if args.classes is not None:
        arguments += ["--classes", str(args.classes)]
    if args.threads is not None:
        arguments += ["--threads", str(args.threads)]
    return arguments


def main() -> None:
    parser = common.base_parser(__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--memory-warmup", type=int, default=1, help="steps before the peak is reset")
    parser.add_argument("--memory-repeats", type=int, default=1, help="steps the peak is taken over")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--pin-memory", action="store_true", help="pinned host memory for the batches")
    parser.add_argument("--probe", nargs=2, metavar=("VARIANT", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe(args)
    if "FT" not in args.methods:
        parser.error("--methods must include FT: every ratio is to FT.")

    device = common.setup(args)
    started = time.perf_counter()
    results = {"benchmark": "step_cost", "machine": common.machine(device), "arguments": common.arguments(args),
               "variants": {}}
    for variant in args.variants:
        times, extras = time_variant(variant, args, device)
        summary = common.summarize(times, warmup=args.warmup, reference="FT")
        memory = {}
        if not args.no_memory:
            for method in applicable(args.methods, variant):
                memory[method] = common.run_probe(Path(__file__), probe_arguments(args, variant, method))
        for method, probed in memory.items():
            ft = memory["FT"]
            summary[method] |= {
                "peak_mib": probed["peak_mib"], "before_step_mib": probed["before_mib"],
                "runtime_mib": probed["runtime_mib"], "memory_ratio": probed["peak_mib"] / ft["peak_mib"],
                "memory_ratio_above_runtime": (probed["peak_mib"] - probed["runtime_mib"])
                / (ft["peak_mib"] - ft["runtime_mib"]),
            }
        results["variants"][VARIANTS[variant]] = {"methods": summary, "step_times_s": times, **extras}
        print_variant(VARIANTS[variant], summary, extras)
    results["wall_s"] = time.perf_counter() - started
    common.write_results(common.default_output("step_cost", args), results)


def print_variant(label: str, summary: dict, extras: dict) -> None:
    header = ["method", "time ratio", "median s", "min s", "max s", "memory ratio", "above runtime", "peak MiB"]
    rows = [[method, s["ratio"], s["median_s"], s["min_s"], s["max_s"], s.get("memory_ratio", "-"),
             s.get("memory_ratio_above_runtime", "-"), round(s["peak_mib"]) if "peak_mib" in s else "-"]
            for method, s in summary.items()]
    common.print_table(f"{label}: one training step, ratios to FT ({label})", header, rows)
    for method, (key, what) in ONCE_PER_SESSION.items():
        if extras.get(key) is not None:
            print(f"{method} {what} (once per session): {extras[key]:.3f} s")


if __name__ == "__main__":
    main()
