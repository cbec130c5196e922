"""The speed-up of trimmed text encoding: an FT step (WM) with trimmed prompts vs full-context prompts.

CLIP's text transformer is causal and reads the text feature at the end-of-text token, so the
library runs it on the first ``max(end position) + 1`` positions only (about 15 for the paper's
prompt, not the 77 of ViT-B-32's context; ``avalanche_clip.models.text_encoding``). Here two FT
loops train the same model interleaved one step at a time in one process (see ``common.py``), one
with ``model.trim_text = True`` (the default) and one with ``False`` (OpenCLIP's full-context
``encode_text``). The speed-up is full / trimmed. Also reported: the text encoding alone (class
prompts and 100 VR-LwF pseudo sentences, forward + backward), interleaved likewise.

Examples::

    python bench/text_trimming.py --model ViT-B-32 --threads 1
    python bench/text_trimming.py --model ViT-B-32 --device cuda --precision bf16 --batch 100 --repeats 20
"""

from __future__ import annotations

import time

import common
import torch
from avalanche.core import SupervisedPlugin

from avalanche_clip.models.text_encoding import text_lengths
from avalanche_clip.training import CLIPStrategy
from avalanche_clip.training.plugins.vr_lwf import pseudo_sentences


class TextTrimming(SupervisedPlugin):
    """Sets ``model.trim_text`` before every step (the two loops share one model)."""

    def __init__(self, trim: bool):
        super().__init__()
        self.trim = trim

    def before_training_iteration(self, strategy, **kwargs):
        strategy.model.trim_text = self.trim


def encoding_loop(model, tokens: torch.Tensor, *, trim: bool, steps: int):
    """Forward and backward of the text features of ``tokens`` ``[N, L]`` alone, ``steps`` times."""

    def loop(tick) -> None:
        for _ in range(steps):
            model.trim_text = trim
            model.zero_grad(set_to_none=True)
            model.encode_text(tokens).sum().backward()
            tick()

    return loop


def main() -> None:
    parser = common.base_parser(__doc__)
    parser.add_argument("--model-only", action="store_true", help="skip the text-encoding-only comparison")
    args = parser.parse_args()
    device = common.setup(args)
    started = time.perf_counter()

    model = common.build_model(args.model, update="whole", device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    names = common.class_names(args.model, args.classes)
    steps = args.warmup + args.repeats
    train = common.training_images(model, names, batch=args.batch, steps=steps, seed=args.seed)
    experience = common.ost_experience(train, names, seed=args.seed)

    def strategy(trim: bool):
        def build(extra: list) -> CLIPStrategy:
            return CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=args.batch, train_epochs=1,
                                eval_mb_size=args.batch, device=device, precision=args.precision,
                                plugins=[TextTrimming(trim)] + extra, evaluator=common.quiet_evaluator())
        return common.strategy_loop(build, experience, steps)

    results = {"benchmark": "text_trimming", "machine": common.machine(device), "arguments": common.arguments(args)}
    times = common.Interleaved({"trimmed": strategy(True), "full context": strategy(False)}, device=device).run()
    summary = common.summarize(times, warmup=args.warmup, reference="trimmed")
    results["ft_step"] = {"loops": summary, "step_times_s": times, "speedup": summary["full context"]["ratio"]}
    rows = [[name, s["ratio"], s["median_s"], s["min_s"], s["max_s"]] for name, s in summary.items()]
    common.print_table("FT step (WM), ratio to trimmed prompts", ["prompts", "ratio", "median s", "min s", "max s"],
                       rows)

    if not args.model_only:
        model.train()
        prompts = model.vocabulary.tokens.flatten(0, 1).to(device)  # [C*T, L]
        pseudo = pseudo_sentences(model.tokenizer_info, 100, 10, torch.Generator().manual_seed(args.seed)).to(device)
        lengths = {"prompts": int(text_lengths(model.clip, prompts).max()),  # trimmed, whatever trim_text is now
                   "pseudo sentences": int(text_lengths(model.clip, pseudo).max()), "context": int(prompts.shape[1])}
        results["lengths"] = lengths
        for label, tokens in (("prompts", prompts), ("pseudo sentences", pseudo)):
            loops = {"trimmed": encoding_loop(model, tokens, trim=True, steps=steps),
                     "full context": encoding_loop(model, tokens, trim=False, steps=steps)}
            times = common.Interleaved(loops, device=device).run()
            summary = common.summarize(times, warmup=args.warmup, reference="trimmed")
            results[f"encoding_{label.replace(' ', '_')}"] = {"loops": summary, "step_times_s": times,
                                                              "speedup": summary["full context"]["ratio"]}
            rows = [[name, s["ratio"], s["median_s"], s["min_s"], s["max_s"]] for name, s in summary.items()]
            common.print_table(f"Text encoding of {tokens.shape[0]} {label} (forward + backward), ratio to trimmed "
                               f"({lengths[label]} of {lengths['context']} positions)",
                               ["encoding", "ratio", "median s", "min s", "max s"], rows)
    model.trim_text = True
    results["wall_s"] = time.perf_counter() - started
    common.write_results(common.default_output("text_trimming", args), results)


if __name__ == "__main__":
    main()
