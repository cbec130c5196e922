"""The world's pretraining program (``world_pretraining``, beside the package): its corpus, its
loss, its schedule, and a few steps that resume bit-identically after a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avalanche_clip.benchmarks import world
from avalanche_clip.benchmarks.world.bpe_tokenizer import shipped_bpe_path
from world_pretraining import pretrain
from world_pretraining.contrastive import caption_contrastive_loss, caption_ids
from world_pretraining.corpus import corpus_batch, corpus_example
from world_pretraining.pretrain import learning_rate


def test_corpus_example_depends_only_on_seed_and_index():
    images, captions = corpus_batch(0, 5, 3)
    image, caption = corpus_example(0, 6)
    np.testing.assert_array_equal(images[1], image)
    assert captions[1] == caption
    assert not np.array_equal(corpus_example(1, 6)[0], image)


def test_contrastive_loss_is_clip_loss_for_distinct_captions_and_pools_duplicates():
    from open_clip.loss import ClipLoss

    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    scale = torch.tensor(10.0)
    ids = caption_ids(["a", "b", "c", "d", "e"])
    torch.testing.assert_close(caption_contrastive_loss(image, text, scale, ids), ClipLoss()(image, text, scale))
    ids = caption_ids(["a", "b", "a", "d", "e"])
    logits = scale * image @ text.T
    targets = torch.eye(5)
    targets[0, 2] = targets[2, 0] = 1
    targets[0, 0] = targets[2, 2] = 1
    targets = targets / targets.sum(1, keepdim=True)
    image_to_text = (targets * logits.log_softmax(1)).sum(1).mean()
    text_to_image = (targets * logits.T.log_softmax(1)).sum(1).mean()
    expected = -(image_to_text + text_to_image) / 2
    torch.testing.assert_close(caption_contrastive_loss(image, text, scale, ids), expected)


def test_learning_rate_warms_up_then_decays():
    assert learning_rate(0, lr=1.0, warmup=4, steps=20) == 0.25
    assert learning_rate(3, lr=1.0, warmup=4, steps=20) == 1.0
    assert math.isclose(learning_rate(12, lr=1.0, warmup=4, steps=20), 0.02 + 0.98 * 0.5)
    assert math.isclose(learning_rate(20, lr=1.0, warmup=4, steps=20), 0.02)


def test_pretraining_resumed_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    def run(name: str, **kw):
        return pretrain.main(run_dir=str(tmp_path / name), steps=3, batch_size=4, warmup=1, eval_every=100,
                             checkpoint_every=1, export_dir=str(tmp_path / name / "out"), **kw)

    run("straight")
    batches = pretrain.corpus_batch
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return batches(*args, **kwargs)

    monkeypatch.setattr(pretrain, "corpus_batch", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run("crashed")
    assert torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=False)["step"] == 2
    monkeypatch.setattr(pretrain, "corpus_batch", batches)
    run("crashed")  # resumes at step 2
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    resumed = torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=False)
    assert resumed["step"] == straight["step"] == 3
    torch.testing.assert_close(resumed["model"], straight["model"], rtol=0, atol=0)
    with pytest.raises(ValueError, match="other settings"):
        run("crashed", lr=0.5)

    out = tmp_path / "straight" / "out"
    clip = world.load_weights(world.build_world_clip(), out / "world_clip.pt")
    torch.testing.assert_close(clip.logit_scale.detach(), straight["model"]["logit_scale"].half().float())
    assert (out / "world_bpe.txt.gz").read_bytes() == shipped_bpe_path().read_bytes()
