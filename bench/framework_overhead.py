"""Framework overhead: an FT step in CLIPStrategy with an EvaluationPlugin vs a hand-written PyTorch loop.

Both loops train the same model with the same Adam on the same batches, interleaved one step at a
time in one process (see ``common.py``): the strategy (Avalanche's callbacks, the per-iteration
loss and accuracy metrics of an ``EvaluationPlugin``, AMP context, clipping) against a plain
loop doing the same computation: DataLoader batch, ``model(x)``, cross-entropy, backward, clip the
gradient norm to 1.0, Adam step. The ratio is strategy / hand-written.

Examples::

    python bench/framework_overhead.py --model world --threads 1 --repeats 20
    python bench/framework_overhead.py --model ViT-B-32 --threads 1
    python bench/framework_overhead.py --model ViT-B-32 --device cuda --precision bf16 --batch 100 --repeats 20
"""

from __future__ import annotations

import time

import common
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from avalanche_clip.training import CLIPStrategy
from avalanche_clip.training.precision import autocast, resolve_precision


def hand_written_loop(model, optimizer, dataset, *, batch: int, steps: int, device: torch.device, precision: str,
                      num_workers: int, pin_memory: bool):
    """The same FT step without a framework: a loop for :class:`common.Interleaved`."""

    def loop(tick) -> None:
        loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=num_workers, pin_memory=pin_memory)
        model.train()
        for step, (images, labels) in enumerate(loader):
            if step == steps:
                break
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast(precision, device):
                loss = F.cross_entropy(model(images), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 1.0)
            optimizer.step()
            tick()

    return loop


def main() -> None:
    parser = common.base_parser(__doc__)
    parser.add_argument("--variant", default="whole", choices=["whole", "image", "text"])
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--pin-memory", action="store_true", help="pinned host memory for the batches")
    args = parser.parse_args()
    device = common.setup(args)
    started = time.perf_counter()

    model = common.build_model(args.model, update=args.variant, device=device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    names = common.class_names(args.model, args.classes)
    steps = args.warmup + args.repeats
    train = common.training_images(model, names, batch=args.batch, steps=steps, seed=args.seed)
    experience = common.ost_experience(train, names, seed=args.seed)
    model.train()
    model.adaptation(experience)  # the hand-written loop scores the same (masked) vocabulary
    loader = dict(num_workers=args.num_workers, pin_memory=args.pin_memory)

    def strategy(extra: list) -> CLIPStrategy:
        return CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=args.batch, train_epochs=1,
                            eval_mb_size=args.batch, device=device, precision=args.precision, plugins=extra,
                            evaluator=common.quiet_evaluator())

    precision = resolve_precision(args.precision, device)
    loops = {
        "hand-written": hand_written_loop(model, optimizer, train, batch=args.batch, steps=steps,
                                          device=device, precision=precision, **loader),
        "CLIPStrategy": common.strategy_loop(strategy, experience, steps, **loader),
    }
    times = common.Interleaved(loops, device=device).run()
    summary = common.summarize(times, warmup=args.warmup, reference="hand-written")
    rows = [[name, s["ratio"], s["median_s"], s["min_s"], s["max_s"]] for name, s in summary.items()]
    common.print_table(f"FT step ({args.variant}), ratio to the hand-written loop",
                       ["loop", "ratio", "median s", "min s", "max s"], rows)
    common.write_results(common.default_output("framework_overhead", args), {
        "benchmark": "framework_overhead", "machine": common.machine(device), "arguments": common.arguments(args),
        "loops": summary, "step_times_s": times, "wall_s": time.perf_counter() - started,
    })


if __name__ == "__main__":
    main()
