"""Zero-shot and retrieval metrics on the tiny CLIP: when they measure, what they encode, how
they leave the model, and that their values equal a direct computation."""

import math
from types import SimpleNamespace

import pytest
import torch
from avalanche.training.plugins import EvaluationPlugin

from avalanche_clip.benchmarks import mst_benchmark
from avalanche_clip.evaluation import RetrievalMetric, ZeroShotMetric, retrieval_metrics, zeroshot_metrics
from avalanche_clip.models.tokenizer_info import tokenize
from avalanche_clip.training import CLIPStrategy
from conftest import CLASS_NAMES, GeneratedRetrieval


def fake_strategy(model, experiences_done=0):
    """What a CapabilityMetric reads from a strategy."""
    clock = SimpleNamespace(train_exp_counter=experiences_done, train_iterations=10 * experiences_done)
    return SimpleNamespace(model=model, device=torch.device("cpu"), clock=clock)


def count_encoder_rows(model):
    """Count the rows every image-tower and text-tower pass encodes: {"image": [...], "text": [...]}.

    Hooks sit on the towers themselves, so every path that encodes (trimmed or not, prompts or
    captions) is counted.
    """
    rows = {"image": [], "text": []}
    model.clip.visual.register_forward_hook(lambda module, args, out: rows["image"].append(args[0].shape[0]))
    model.clip.token_embedding.register_forward_hook(lambda module, args, out: rows["text"].append(args[0].shape[0]))
    return rows


def test_original_is_measured_once_when_train_is_called_per_experience(
        make_model, generated, zeroshot_set, retrieval_set):
    metrics = (zeroshot_metrics({"zs": zeroshot_set}, top_k=(1, 2))
               + retrieval_metrics({"ret": retrieval_set}, ks=(1, 2)))
    measured = []
    for metric in metrics:
        measure = metric.measure
        metric.measure = (lambda model, device, measure=measure, name=metric.set_name:
                          measured.append(name) or measure(model, device))
    model = make_model()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), train_mb_size=20,
                            evaluator=EvaluationPlugin(*metrics, loggers=[]))
    for experience in mst_benchmark(*generated, CLASS_NAMES, n_sessions=3).train_stream:
        strategy.train(experience)

    assert measured == ["zs", "ret"] * 4  # the original once, then once per experience
    results = strategy.evaluator.get_all_metrics()
    steps, top1 = results["ZeroShot_Top1_Acc/eval_phase/zs"]
    assert steps[0] == 0 and steps == sorted(steps) and len(set(steps)) == 4
    assert results["ZeroShot_Top1_Acc_Forgetting/eval_phase/zs"][1] == pytest.approx([top1[0] - v for v in top1[1:]])
    steps, tr1 = results["Retrieval_TR@1/eval_phase/ret"]
    forgetting = results["Retrieval_TR@1_Forgetting/eval_phase/ret"]
    assert forgetting == (steps[1:], pytest.approx([tr1[0] - v for v in tr1[1:]]))
    for name in ("Retrieval_IR@2/eval_phase/ret", "Retrieval_IR@2_Forgetting/eval_phase/ret",
                 "ZeroShot_Top2_Acc/eval_phase/zs"):
        assert name in results
    assert metrics[0].state_dict()["original"] == {"ZeroShot_Top1_Acc": top1[0], "ZeroShot_Top2_Acc": pytest.approx(
        results["ZeroShot_Top2_Acc/eval_phase/zs"][1][0])}


def test_a_restored_metric_does_not_measure_the_original_again(make_model, zeroshot_set):
    metric = ZeroShotMetric("zs", zeroshot_set, top_k=(1, 2))
    metric.load_state_dict({"original": {"ZeroShot_Top1_Acc": 0.9, "ZeroShot_Top2_Acc": 1.0}, "current": None})
    strategy = fake_strategy(make_model(), experiences_done=2)
    assert metric.before_training(strategy) is None
    values = {v.name: v.value for v in metric.after_training_exp(strategy)}
    top1 = values["ZeroShot_Top1_Acc/eval_phase/zs"]
    assert values["ZeroShot_Top1_Acc_Forgetting/eval_phase/zs"] == pytest.approx(0.9 - top1)


def test_a_metric_leaves_train_modes_and_grad_state_as_found(make_model, zeroshot_set, retrieval_set):
    model = make_model()
    model.train()
    model.clip.visual.eval()  # a frozen tower kept in eval mode must stay so
    modes = {name: module.training for name, module in model.named_modules()}
    requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    seen = []
    encode_image = model.encode_image
    model.encode_image = lambda x, **kw: seen.append((model.training, model.clip.transformer.training,
                                                      torch.is_grad_enabled())) or encode_image(x, **kw)
    strategy = fake_strategy(model)
    for metric in (ZeroShotMetric("zs", zeroshot_set), RetrievalMetric("ret", retrieval_set, ks=(1,))):
        with torch.enable_grad():
            metric.before_training(strategy)
            metric.after_training_exp(strategy)
            assert torch.is_grad_enabled()
        with torch.no_grad():
            metric.after_training_exp(strategy)
            assert not torch.is_grad_enabled()
    assert seen and all(state == (False, False, False) for state in seen)
    assert {name: module.training for name, module in model.named_modules()} == modes
    assert {name: p.requires_grad for name, p in model.named_parameters()} == requires_grad


def test_modes_are_restored_when_a_measurement_fails(make_model, zeroshot_set):
    model = make_model()
    model.train()
    metric = ZeroShotMetric("zs", zeroshot_set)
    metric.measure = lambda model, device: 1 / 0
    with pytest.raises(ZeroDivisionError):
        metric.before_training(fake_strategy(model))
    assert all(module.training for module in model.modules()) and torch.is_grad_enabled()


def test_each_image_prompt_and_caption_is_encoded_once_per_evaluation(make_model, zeroshot_set, retrieval_set):
    model = make_model()
    rows = count_encoder_rows(model)
    strategy = fake_strategy(model)
    ZeroShotMetric("zs", zeroshot_set, batch_size=7).before_training(strategy)
    assert sum(rows["image"]) == len(zeroshot_set) and len(rows["image"]) == math.ceil(20 / 7)
    assert sum(rows["text"]) == 5 * 2  # 5 classes x 2 templates, 3 classes (6 prompts) per batch
    assert rows["text"] == [6, 4]

    rows["image"].clear(), rows["text"].clear()
    RetrievalMetric("ret", retrieval_set, ks=(1, 2, 3), n_folds=3, batch_size=7).after_training_exp(strategy)
    assert sum(rows["image"]) == 12 and len(rows["image"]) == 2  # three folds, still each image once
    assert sum(rows["text"]) == 60 and len(rows["text"]) == math.ceil(60 / 7)


def test_zeroshot_accuracy_equals_the_classifier_forward(make_model, zeroshot_set):
    model = make_model()
    values = ZeroShotMetric("zs", zeroshot_set, top_k=(1,), batch_size=8).before_training(fake_strategy(model))
    images = torch.stack([zeroshot_set[i][0] for i in range(len(zeroshot_set))])
    labels = torch.tensor(zeroshot_set.targets)
    model.set_vocabulary(zeroshot_set.classes, zeroshot_set.templates)
    model.eval()
    with torch.no_grad():
        expected = (model(images).argmax(dim=1) == labels).float().mean().item()
    assert [v.name for v in values] == ["ZeroShot_Top1_Acc/eval_phase/zs"]
    assert values[0].value == pytest.approx(expected)


def test_retrieval_recall_equals_a_topk_computation_on_the_model(make_model):
    model = make_model()
    dataset = GeneratedRetrieval(8, 3, seed=7)
    values = RetrievalMetric("ret", dataset, ks=(1, 2), n_folds=2, batch_size=5).before_training(fake_strategy(model))
    values = {v.name: v.value for v in values}
    with torch.no_grad():
        images = model.encode_image(torch.stack([dataset[i] for i in range(8)]))
        texts = model.encode_text(tokenize(model.tokenizer, dataset.captions))
    owner = torch.tensor(dataset.caption_to_image)
    for k in (1, 2):
        text_hits, image_hits = [], []
        for start in (0, 4):  # two folds of 4 images and their 12 captions
            captions = ((owner >= start) & (owner < start + 4)).nonzero().flatten()
            scores = images[start:start + 4] @ texts[captions].T  # [4, 12]
            top_captions = scores.topk(k, dim=1).indices
            text_hits += [bool((owner[captions][top_captions[i]] == start + i).any()) for i in range(4)]
            top_images = scores.T.topk(k, dim=1).indices + start
            image_hits += [bool((top_images[j] == owner[captions][j]).any()) for j in range(12)]
        assert values[f"Retrieval_TR@{k}/eval_phase/ret"] == pytest.approx(sum(text_hits) / 8)
        assert values[f"Retrieval_IR@{k}/eval_phase/ret"] == pytest.approx(sum(image_hits) / 24)


def test_a_k_that_every_query_would_hit_is_dropped_with_a_warning(zeroshot_set, retrieval_set, caplog):
    assert ZeroShotMetric("zs", zeroshot_set, top_k=(1, 5)).top_k == (1,)  # 5 classes: top-5 is always 1
    assert "dropped k=[5], not below the number of classes of 'zs' (5)" in caplog.text
    assert retrieval_metrics({"ret": retrieval_set}, folds={"ret": 2})[0].ks == (1, 5)  # folds of 6 images
    with pytest.raises(ValueError, match="no k is below the number of classes"):
        ZeroShotMetric("zs", zeroshot_set, top_k=(5, 6))


def test_bad_sets_and_arguments_are_refused(zeroshot_set, retrieval_set):
    with pytest.raises(ValueError, match="Unknown retrieval set in folds 'coco'"):
        retrieval_metrics({"ret": retrieval_set}, folds={"coco": 5})
    with pytest.raises(ValueError, match="top_k=.1, 1. has duplicates"):
        ZeroShotMetric("zs", zeroshot_set, top_k=(1, 1))
    with pytest.raises(ValueError, match="without '/'"):
        ZeroShotMetric("a/b", zeroshot_set)
    with pytest.raises(TypeError, match="not a RetrievalDataset"):
        RetrievalMetric("ret", zeroshot_set)
    retrieval_set.caption_to_image = [0] * len(retrieval_set.captions)
    with pytest.raises(ValueError, match="11 images have no caption"):
        RetrievalMetric("ret", retrieval_set, ks=(1,))
