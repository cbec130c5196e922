"""Evaluation cost: zero-shot + retrieval evaluation vs the bare encoder forwards over the same data.

The evaluation is what runs after every session: ``ZeroShotMetric.measure`` and
``RetrievalMetric.measure`` in ``evaluation_mode`` (eval mode, no grad) under the run's autocast:
DataLoader batches of images, images and texts encoded once each, one matrix product per set
(per fold), ranks and Recall@K. The bare encoding is only the encoder forwards
(``model.encode_image`` on the same image batches, ``model.encode_prompts`` and
``model.encode_text`` on the same prompts and captions, in dataset order) with nothing around
them. A third loop evaluates with the captions encoded in dataset order instead of shortest first
(the length-sorting lever). The loops run interleaved in one process (see ``common.py``); ratios
are to the bare encoding.

Data: the world's own zero-shot and retrieval sets for ``--model world`` (rendered once and held
in memory, so image decoding is not what is timed); otherwise random images with the COCO class
names under "this is a photo of {} ." and random captions of 5-20 words.

Examples::

    python bench/evaluation_cost.py --model world --threads 1 --repeats 10
    python bench/evaluation_cost.py --model ViT-B-32 --threads 1 --warmup 1 --repeats 5
    python bench/evaluation_cost.py --model ViT-B-32 --device cuda --precision bf16 --zeroshot-images 5000 \
        --retrieval-images 5000 --folds 5
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import common
import torch
from torch.utils.data import Dataset

from avalanche_clip.evaluation.encoding import evaluation_mode
from avalanche_clip.evaluation.metrics import RetrievalMetric, ZeroShotMetric
from avalanche_clip.models import PromptVocabulary
from avalanche_clip.models.tokenizer_info import tokenize
from avalanche_clip.training.precision import autocast, resolve_precision

WORDS = ("a", "the", "man", "woman", "dog", "cat", "red", "blue", "small", "large", "on", "in", "with", "table",
         "street", "next", "to", "of", "is", "are", "sitting", "standing", "holding", "two", "people", "white",
         "black", "car", "bus", "train", "green", "field", "grass", "water", "near", "building", "plate", "food",
         "pizza", "riding", "horse", "bike", "road", "sky", "tree", "room", "kitchen", "window", "playing", "ball")
"""The pool random captions draw from."""


class TensorZeroShot(Dataset):
    """A zero-shot set held in memory: ``(image, label)`` items, ``classes``, ``templates``."""

    def __init__(self, images: torch.Tensor, labels: list[int], classes, templates):
        self.images, self.labels = images, labels
        self.classes, self.templates = list(classes), list(templates)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index], self.labels[index]


class TensorRetrieval(Dataset):
    """A retrieval set held in memory: image items, ``captions``, ``caption_to_image``."""

    def __init__(self, images: torch.Tensor, captions: list[str], caption_to_image: list[int]):
        self.images, self.captions, self.caption_to_image = images, captions, caption_to_image

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index]


def random_sets(model, args) -> tuple[TensorZeroShot, TensorRetrieval]:
    generator = torch.Generator().manual_seed(args.seed)
    names = common.class_names(args.model, args.classes)
    size = model.image_size
    zeroshot = common.RandomImages(args.zeroshot_images, num_classes=len(names), image_size=size, seed=args.seed)
    images = torch.randn(args.retrieval_images, 3, size, size, generator=generator)
    captions, owners = [], []
    for image in range(args.retrieval_images):
        for _ in range(5):
            length = int(torch.randint(5, 21, (), generator=generator))
            words = torch.randint(len(WORDS), (length,), generator=generator)
            captions.append(" ".join(WORDS[i] for i in words) + " .")
            owners.append(image)
    return (TensorZeroShot(zeroshot.images, zeroshot.targets, names, ["this is a photo of {} ."]),
            TensorRetrieval(images, captions, owners))


def world_sets(args) -> tuple[TensorZeroShot, TensorRetrieval]:
    from avalanche_clip.benchmarks import world

    per_class = max(1, args.zeroshot_images // len(world.HELD_OUT_CATEGORIES))
    data = world.load_data(seed=args.seed, train_per_class=1, test_per_class=1, zeroshot_per_class=per_class,
                           retrieval_size=args.retrieval_images)
    shapes = data.zeroshot[world.ZEROSHOT_SETS[0]]
    items = [shapes[i] for i in range(len(shapes))]
    scenes = data.retrieval[world.RETRIEVAL_SETS[0]]
    return (TensorZeroShot(torch.stack([x for x, _ in items]), [y for _, y in items], shapes.classes, shapes.templates),
            TensorRetrieval(torch.stack([scenes[i] for i in range(len(scenes))]), list(scenes.captions),
                            list(scenes.caption_to_image)))


@contextmanager
def captions_in_dataset_order(model):
    """Make every text look equally long, so encoding keeps the dataset's order."""
    model.text_lengths = lambda tokens: torch.zeros(tokens.shape[0], dtype=torch.long)
    try:
        yield
    finally:
        del model.text_lengths


def main() -> None:
    parser = common.base_parser(__doc__, batch=256)
    parser.add_argument("--zeroshot-images", type=int, default=256)
    parser.add_argument("--retrieval-images", type=int, default=128, help="5 captions each")
    parser.add_argument("--folds", type=int, default=1, help="retrieval folds (COCO 5K: 5)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers of the metrics")
    parser.add_argument("--pin-memory", action="store_true", help="pinned host memory for the metrics' images")
    args = parser.parse_args()
    device = common.setup(args)
    started = time.perf_counter()

    model = common.build_model(args.model, device=device).eval()
    zeroshot, retrieval = world_sets(args) if args.model == common.WORLD else random_sets(model, args)
    loader = dict(batch_size=args.batch, num_workers=args.num_workers, pin_memory=args.pin_memory)
    metrics = [ZeroShotMetric("zeroshot", zeroshot, top_k=(1,), **loader),
               RetrievalMetric("retrieval", retrieval, n_folds=args.folds, **loader)]
    precision = resolve_precision(args.precision, device)
    prompts = PromptVocabulary.build(zeroshot.classes, zeroshot.templates, model.tokenizer).tokens  # [C, T, L]
    captions = tokenize(model.tokenizer, retrieval.captions)  # [N, L]
    steps = args.warmup + args.repeats

    def evaluation(sorted_captions: bool):
        def loop(tick) -> None:
            for _ in range(steps):
                with evaluation_mode(model), autocast(precision, device):
                    if sorted_captions:
                        values = [m.measure(model, device) for m in metrics]
                    else:
                        with captions_in_dataset_order(model):
                            values = [m.measure(model, device) for m in metrics]
                tick()
            results["values" if sorted_captions else "values_captions_unsorted"] = values
        return loop

    def bare(tick) -> None:
        for _ in range(steps):
            with torch.no_grad(), autocast(precision, device):
                for images in (zeroshot.images, retrieval.images):
                    for batch in images.split(args.batch):
                        model.encode_image(batch.to(device))
                for chunk in prompts.split(max(1, args.batch // prompts.shape[1])):
                    model.encode_prompts(chunk.to(device))
                for chunk in captions.split(args.batch):
                    model.encode_text(chunk.to(device))
            tick()

    results = {"benchmark": "evaluation_cost", "machine": common.machine(device), "arguments": common.arguments(args),
               "sizes": {"zeroshot_images": len(zeroshot), "classes": len(zeroshot.classes),
                         "templates": len(zeroshot.templates), "retrieval_images": len(retrieval),
                         "captions": len(retrieval.captions),
                         "caption_positions_median": int(model.text_lengths(captions).median()),
                         "caption_positions_max": int(model.text_lengths(captions).max())}}
    loops = {"bare encoding": bare, "evaluation": evaluation(True), "evaluation, captions unsorted": evaluation(False)}
    times = common.Interleaved(loops, device=device).run()
    summary = common.summarize(times, warmup=args.warmup, reference="bare encoding")
    rows = [[name, s["ratio"], s["median_s"], s["min_s"], s["max_s"]] for name, s in summary.items()]
    common.print_table(f"Zero-shot ({len(zeroshot)} images, {len(zeroshot.classes)} classes) + retrieval "
                       f"({len(retrieval)} images, {len(retrieval.captions)} captions), ratio to bare encoding",
                       ["loop", "ratio", "median s", "min s", "max s"], rows)
    results |= {"loops": summary, "step_times_s": times, "wall_s": time.perf_counter() - started}
    if results["values"] != results["values_captions_unsorted"]:
        print("note: the metric values differ with unsorted captions (features equal to rounding):",
              results["values"], results["values_captions_unsorted"])
    common.write_results(common.default_output("evaluation_cost", args), results)


if __name__ == "__main__":
    main()
