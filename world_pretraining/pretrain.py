"""Pretrain the world's tiny CLIP contrastively on the world corpus; ship its weights.

Run ``python -m world_pretraining`` from the repository root (``--help`` lists the options). The
run is seeded and reproducible: step ``k`` trains on corpus examples ``k*B .. (k+1)*B - 1``,
rebuilt from the seed. Every ``checkpoint_every`` steps the model, the optimizer and the history
are saved atomically in ``run_dir``; starting again with the same ``run_dir`` resumes there. Every
``eval_every`` steps a monitor reports zero-shot accuracy over all categories and all colours and
retrieval Recall@1 on held-out scenes (``run_dir/history.jsonl``). At the end the fp16 weights,
their SHA-256 and the BPE merges are written to ``export_dir`` (default: inside the installed
``avalanche_clip.benchmarks.world``, where ``world.load()`` reads them).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from avalanche_clip._atomic import atomic_write
from avalanche_clip.benchmarks.world.bpe_tokenizer import (
    BPE_FILE,
    learn_bpe_merges,
    world_texts,
    world_tokenizer,
    write_bpe_file,
)
from avalanche_clip.benchmarks.world.concepts import CATEGORIES, COLOURS
from avalanche_clip.benchmarks.world.image_sets import WorldCaptions, WorldObjects
from avalanche_clip.benchmarks.world.prompt_templates import COLOUR_TEMPLATES, SHAPE_TEMPLATES
from avalanche_clip.benchmarks.world.weights import (
    IMAGE_MEAN,
    IMAGE_STD,
    WEIGHTS_FILE,
    build_world_clip,
    save_weights,
    shipped_weights_path,
    world_clip_config,
)
from avalanche_clip.models.text_encoding import encode_text, normalized

from .contrastive import caption_contrastive_loss, caption_ids
from .corpus import corpus_batch

logger = logging.getLogger(__name__)

MONITOR_STREAMS = {"categories": 100, "colours": 101, "retrieval": 102}
"""Streams of the monitor's sets, apart from the corpus and from ``world.load()``'s sets."""


def normalize_batch(images: np.ndarray) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` images as the normalised float batch ``[N, 3, H, W]`` the model takes."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)  # [N, 3, H, W]
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _param_groups(clip: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: not gains, biases, embeddings or the logit scale (as OpenCLIP trains)."""
    def exclude(name: str, p: nn.Parameter) -> bool:
        return p.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith("bias")

    named = [(n, p) for n, p in clip.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": weight_decay},
    ]


def learning_rate(step: int, *, lr: float, warmup: int, steps: int, final_fraction: float = 0.02) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to ``final_fraction * lr``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _class_features(clip: nn.Module, tokenizer, classes, templates) -> Tensor:
    """Template-ensembled, normalised class features ``[C, D]``."""
    tokens = tokenizer([t.format(c) for c in classes for t in templates])  # [C*T, L]
    features = normalized(encode_text(clip, tokens)).view(len(classes), len(templates), -1)
    return normalized(features.mean(dim=1))


@torch.no_grad()
def monitor(clip: nn.Module, tokenizer, sets: dict) -> dict[str, float]:
    """Zero-shot top-1 (%) on each labelled set and retrieval R@1 (%) both ways on the captions."""
    was_training = clip.training
    clip.eval()
    result = {}
    for name, (dataset, templates) in sets["zeroshot"].items():
        image = normalized(clip.encode_image(normalize_batch(dataset.images)))  # [N, D]
        text = _class_features(clip, tokenizer, dataset.classes, templates)  # [C, D]
        predicted = (image @ text.T).argmax(dim=1)
        result[f"zeroshot_{name}"] = 100 * (predicted == torch.tensor(dataset.targets)).float().mean().item()
    captions: WorldCaptions = sets["retrieval"]
    image = normalized(clip.encode_image(normalize_batch(captions.images)))  # [N, D]
    text = normalized(encode_text(clip, tokenizer(captions.captions)))  # [5N, D]
    scores_i2t = image @ text.T  # [N, 5N]
    owner = torch.tensor(captions.caption_to_image)  # [5N]
    result["TR@1"] = 100 * (owner[scores_i2t.argmax(dim=1)] == torch.arange(len(captions))).float().mean().item()
    result["IR@1"] = 100 * (scores_i2t.T.argmax(dim=1) == owner).float().mean().item()
    clip.train(was_training)
    return result


def _monitor_sets(seed: int, image_size: int) -> dict:
    return {
        "zeroshot": {
            "categories": (WorldObjects(CATEGORIES, per_class=10, seed=seed, stream=MONITOR_STREAMS["categories"],
                                        image_size=image_size), SHAPE_TEMPLATES),
            "colours": (WorldObjects(tuple(COLOURS), per_class=25, seed=seed, stream=MONITOR_STREAMS["colours"],
                                     label="colour", image_size=image_size), COLOUR_TEMPLATES),
        },
        "retrieval": WorldCaptions(300, seed=seed, stream=MONITOR_STREAMS["retrieval"], image_size=image_size),
    }


def _run_tokenizer(run: Path, config: dict) -> Any:
    """Learn the BPE merges into ``run`` and build the tokenizer; its size must be the config's."""
    bpe_path = run / BPE_FILE
    write_bpe_file(learn_bpe_merges(world_texts()), bpe_path)
    tokenizer = world_tokenizer(bpe_path)
    if tokenizer.vocab_size != config["text_cfg"]["vocab_size"]:
        raise ValueError(
            f"The world tokenizer has {tokenizer.vocab_size} tokens but world-clip.json says "
            f"vocab_size={config['text_cfg']['vocab_size']}: set it to {tokenizer.vocab_size}."
        )
    return tokenizer


def _resume(checkpoint_path: Path, settings: dict, clip: nn.Module,
            optimizer: torch.optim.Optimizer) -> tuple[int, list[dict[str, float]]]:
    """The step and history to start from: a checkpoint's (loaded into ``clip`` and ``optimizer``), else 0."""
    if not checkpoint_path.is_file():
        return 0, []
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    if checkpoint["settings"] != settings:
        raise ValueError(
            f"{checkpoint_path} was written with other settings ({checkpoint['settings']}); "
            "use another run_dir or the same settings."
        )
    clip.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    logger.info("Resuming %s at step %d of %d.", checkpoint_path, checkpoint["step"], settings["steps"])
    return checkpoint["step"], checkpoint["history"]


def _train_step(clip: nn.Module, optimizer: torch.optim.Optimizer, tokenizer: Any, images: np.ndarray,
                captions: list[str], grad_clip_norm: float) -> Tensor:
    """One contrastive step on a batch of the corpus; returns the loss."""
    image = normalized(clip.encode_image(normalize_batch(images)))  # [B, D]
    text = normalized(encode_text(clip, tokenizer(captions)))  # [B, D]
    loss = caption_contrastive_loss(image, text, clip.logit_scale.exp(), caption_ids(captions))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip_norm > 0:
        nn.utils.clip_grad_norm_(clip.parameters(), grad_clip_norm)
    optimizer.step()
    with torch.no_grad():  # CLIP's clamp: the scale stays at most 100
        clip.logit_scale.clamp_(0, math.log(100))
    return loss


def _evaluate(step: int, clip: nn.Module, tokenizer: Any, sets: dict, history: list, path: Path) -> dict[str, float]:
    """Run the monitor, append its values to ``history`` and to the file ``path``, log them."""
    values = {"step": step, **monitor(clip, tokenizer, sets)}
    history.append(values)
    with open(path, "a") as file:
        file.write(json.dumps(values) + "\n")
    logger.info("step %d: %s", step, ", ".join(f"{k} {v:.1f}" for k, v in values.items() if k != "step"))
    return values


def _train(clip: nn.Module, optimizer: torch.optim.Optimizer, tokenizer: Any, settings: dict, run: Path, *,
           eval_every: int, checkpoint_every: int) -> dict[str, float]:
    """Train from the run's checkpoint (or step 0) to the last step; return the final monitor values."""
    from tqdm import tqdm

    steps, seed, batch_size, image_size = (settings[k] for k in ("steps", "seed", "batch_size", "image_size"))
    checkpoint_path = run / "checkpoint.pt"
    start, history = _resume(checkpoint_path, settings, clip, optimizer)
    monitor_sets = _monitor_sets(seed, image_size)
    history_path = run / "history.jsonl"
    progress = tqdm(range(start, steps), initial=start, total=steps, desc="pretraining", dynamic_ncols=True)
    started = time.time()
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, lr=settings["lr"], warmup=settings["warmup"], steps=steps)
        images, captions = corpus_batch(seed, step * batch_size, batch_size, image_size)
        loss = _train_step(clip, optimizer, tokenizer, images, captions, settings["grad_clip_norm"])
        progress.set_postfix(loss=f"{loss.item():.3f}", scale=f"{clip.logit_scale.exp().item():.1f}")
        done = step + 1
        if done % eval_every == 0 or done == steps:
            _evaluate(done, clip, tokenizer, monitor_sets, history, history_path)
        if done % checkpoint_every == 0 or done == steps:
            state = {"model": clip.state_dict(), "optimizer": optimizer.state_dict(), "step": done,
                     "history": history, "settings": settings}
            atomic_write(checkpoint_path, lambda file: torch.save(state, file))
    logger.info("Trained steps %d..%d in %.0f s.", start, steps, time.time() - started)
    return history[-1] if history else _evaluate(steps, clip, tokenizer, monitor_sets, history, history_path)


def _export(clip: nn.Module, export: Path) -> None:
    """Write the BPE merges and the fp16 weights with their checksum into ``export``."""
    export.mkdir(parents=True, exist_ok=True)
    write_bpe_file(learn_bpe_merges(world_texts()), export / BPE_FILE)
    digest = save_weights(clip, export / WEIGHTS_FILE)
    logger.info("Wrote %s (sha256 %s) and %s.", export / WEIGHTS_FILE, digest, export / BPE_FILE)


def main(
    *,
    run_dir: str = "world-pretrain-run",
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-3,
    warmup: int = 200,
    weight_decay: float = 0.1,
    grad_clip_norm: float = 1.0,
    seed: int = 0,
    threads: int = 1,
    checkpoint_every: int = 100,
    eval_every: int = 250,
    export_dir: str | None = None,
) -> dict[str, float]:
    """Pretrain the world CLIP and export its weights.

    Args:
        run_dir: where checkpoints and the history go; an existing checkpoint there is resumed.
        steps: optimizer steps in all.
        batch_size: image-caption pairs per step.
        lr: peak learning rate of AdamW (linear warm-up, cosine decay).
        warmup: warm-up steps.
        weight_decay: AdamW weight decay of the weight matrices.
        grad_clip_norm: gradient-norm clipping (0 turns it off).
        seed: the world seed (corpus and monitor sets) and the initialisation seed.
        threads: CPU threads for torch (1 is fastest on a busy 2-core machine).
        checkpoint_every: steps between checkpoints.
        eval_every: steps between monitor evaluations.
        export_dir: where the weights, checksum and BPE merges go; default avalanche_clip/benchmarks/world/

    Returns:
        The final monitor values.
    """
    torch.set_num_threads(threads)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    export = Path(export_dir) if export_dir else shipped_weights_path().parent
    config = world_clip_config()
    image_size = config["vision_cfg"]["image_size"]  # the scenes are rendered at the model's input size
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup,
                "weight_decay": weight_decay, "grad_clip_norm": grad_clip_norm, "seed": seed,
                "image_size": image_size, "config": config}
    tokenizer = _run_tokenizer(run, config)

    # a program, not library code: seeding the global RNG here makes the initialisation reproducible
    torch.manual_seed(seed)
    clip = build_world_clip(config)
    clip.train()
    optimizer = torch.optim.AdamW(_param_groups(clip, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    final = _train(clip, optimizer, tokenizer, settings, run, eval_every=eval_every, checkpoint_every=checkpoint_every)
    _export(clip, export)
    return final


__all__ = ["learning_rate", "main", "monitor", "normalize_batch"]
