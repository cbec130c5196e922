"""WiSE-FT and ZSCL: hand-computed losses and averages, merge invariants, reference sets, runs."""

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from avalanche_clip.benchmarks.datasets.reference_data import ReferenceImages, read_captions
from avalanche_clip.benchmarks.world.load import STREAMS
from avalanche_clip.benchmarks.world.reference_scenes import world_reference_set
from avalanche_clip.training import CLIPStrategy, LwFPlugin, WiSEFTPlugin, ZSCLPlugin
from avalanche_clip.training.plugins import l2_distance, running_average, zscl_distillation
from avalanche_clip.training.plugins.imm import trained_parameters
from avalanche_clip.training.plugins.zscl import encode_reference
from test_methods_plugins import images_of, perturb, plugin_term, start_session, streams

UPDATES = ["whole", "image", "text"]


def soft_cross_entropy(teacher, student, temperature):
    """The authors' ``distillation(t, s, T)``: CE(softmax(t/T), s/T) · T², mean over rows."""
    return F.cross_entropy(student / temperature, F.softmax(teacher / temperature, dim=1)) * temperature ** 2


def entropy(logits, temperature):
    q = F.softmax(logits / temperature, dim=1)
    return -(q * q.log()).sum(1).mean() * temperature ** 2


def unit(*shape, seed):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# ------------------------------------------------------------------------- pure functions


def test_zscl_distillation_equals_the_authors_soft_cross_entropy_minus_the_teacher_entropy():
    image_s, image_t, text_s, text_t = unit(3, 4, seed=0), unit(3, 4, seed=1), unit(5, 4, seed=2), unit(5, 4, seed=3)
    scale_s, scale_t = torch.tensor(10.0), torch.tensor(12.0)
    loss = zscl_distillation(image_s, image_t, text_s, text_t, scale_s, scale_t, temperature=2.0,
                             image_weight=0.5, text_weight=3.0)
    student, teacher = 10.0 * image_s @ text_s.T, 12.0 * image_t @ text_t.T  # [3, 5]
    i2t = soft_cross_entropy(teacher, student, 2.0) - entropy(teacher, 2.0)
    t2i = soft_cross_entropy(teacher.T, student.T, 2.0) - entropy(teacher.T, 2.0)
    assert i2t > 0 and t2i > 0
    assert loss.item() == pytest.approx((0.5 * i2t + 3.0 * t2i).item(), rel=1e-5)


def test_zscl_distillation_of_an_unchanged_student_is_exactly_zero_with_zero_gradient():
    image = unit(4, 6, seed=0).requires_grad_()
    text = unit(7, 6, seed=1)
    loss = zscl_distillation(image, image.detach(), text, text, torch.tensor(20.0), torch.tensor(20.0))
    (grad,) = torch.autograd.grad(loss, image)
    assert loss.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))


def test_running_average_is_the_mean_of_every_member():
    members = [torch.randn(3, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    average = members[0]
    for count, member in enumerate(members[1:], start=1):
        average = running_average(average, member, count)
    assert torch.allclose(average, torch.stack(members).mean(0), atol=1e-6)


def test_l2_distance_is_the_sum_of_squared_differences():
    params = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([[3.0]])}
    anchor = {"a": torch.tensor([0.0, 4.0]), "b": torch.tensor([[1.0]])}
    assert l2_distance(params, anchor).item() == 1.0 + 4.0 + 4.0


# ------------------------------------------------------------------------------- WiSE-FT


def weights(model):
    return {n: p.detach().clone() for n, p in trained_parameters(model).items()}


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.8])
def test_wise_ft_interpolates_with_the_original(make_model, generated, alpha):
    model = make_model(update="image")
    model.train()
    plugin = WiSEFTPlugin(alpha=alpha)
    strategy = start_session(model, plugin, streams(generated), 0, images_of())
    original = {n: p.detach().clone() for n, p in trained_parameters(model).items()}
    perturb(model)
    trained = {n: p.detach().clone() for n, p in trained_parameters(model).items()}
    plugin.after_training_exp(strategy)
    for name, param in trained_parameters(model).items():
        expected = {0.0: original[name], 1.0: trained[name]}.get(alpha, 0.2 * original[name] + 0.8 * trained[name])
        if alpha == 0.8:
            assert torch.allclose(param, expected, atol=1e-7), name
        else:
            assert torch.equal(param, expected), name  # exactly the original / the trained model


def test_the_wise_ft_merge_refreshes_the_cached_prompt_features(make_model, generated):
    model = make_model(update="whole")
    plugin = WiSEFTPlugin(alpha=0.0)
    strategy = start_session(model, plugin, streams(generated), 0, images_of())
    model.eval()
    with torch.no_grad():
        original_prompts = model.prompt_features().clone()
        perturb(model)
        perturbed_prompts = model.prompt_features().clone()  # cached
        plugin.after_training_exp(strategy)
        assert not torch.equal(perturbed_prompts, original_prompts)
        assert torch.equal(model.prompt_features(), original_prompts)


@pytest.mark.parametrize("anchor, continue_from", [("original", "merged"), ("previous", "merged"),
                                                   ("original", "trained"), ("previous", "trained")])
def test_wise_ft_over_two_sessions_follows_its_anchor_and_continuation(make_model, generated, anchor, continue_from):
    model = make_model(update="image")
    benchmark = streams(generated)
    plugin = WiSEFTPlugin(alpha=0.75, anchor=anchor, continue_from=continue_from)
    strategy = start_session(model, plugin, benchmark, 0, images_of())
    original = weights(model)
    perturb(model, seed=0)
    trained_1 = weights(model)
    plugin.after_training_exp(strategy)
    merged_1 = weights(model)
    state = plugin.state_dict()  # a run killed between the sessions resumes from here
    plugin = WiSEFTPlugin(alpha=0.75, anchor=anchor, continue_from=continue_from)
    plugin.load_state_dict(state)
    strategy = start_session(model, plugin, benchmark, 1, images_of())
    start_2 = trained_1 if continue_from == "trained" else merged_1
    assert all(torch.equal(p, start_2[n]) for n, p in trained_parameters(model).items())
    perturb(model, seed=1)
    trained_2 = weights(model)
    plugin.after_training_exp(strategy)
    base = original if anchor == "original" else merged_1
    for name, param in trained_parameters(model).items():
        assert torch.allclose(param, 0.25 * base[name] + 0.75 * trained_2[name], atol=1e-7), name


def test_wise_ft_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        WiSEFTPlugin(alpha=1.5)
    with pytest.raises(ValueError, match="anchor='zeroshot' is not valid. Available: 'original', 'previous'"):
        WiSEFTPlugin(anchor="zeroshot")
    with pytest.raises(ValueError, match="continue_from"):
        WiSEFTPlugin(continue_from="average")


# -------------------------------------------------------------------------- reference sets


def write_images(folder, count, size=20):
    for index in range(count):
        path = folder / f"class{index % 2}" / f"{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size), (10 * index, 0, 255 - 10 * index)).save(path)


def test_reference_images_are_every_image_under_the_folder_and_a_seeded_subset(tmp_path):
    write_images(tmp_path / "images", 5)
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    every = ReferenceImages(tmp_path / "images", transform=lambda image: image.getpixel((0, 0)))
    assert [p.name for p in every.image_paths] == ["000.png", "002.png", "004.png", "001.png", "003.png"]
    assert every[1] == (20, 0, 235)
    subset = ReferenceImages(tmp_path / "images", max_images=3, seed=1)
    assert len(subset) == 3 and set(subset.image_paths) < set(every.image_paths)
    assert subset.image_paths == ReferenceImages(tmp_path / "images", max_images=3, seed=1).image_paths


def test_reference_files_fail_early_and_helpfully(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference image folder .*missing.* does not exist. Expected a folder"):
        ReferenceImages(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        ReferenceImages(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="reference captions file .*Conceptual Captions"):
        read_captions(tmp_path / "captions.txt")
    (tmp_path / "captions.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="holds no caption"):
        read_captions(tmp_path / "captions.txt")
    (tmp_path / "captions.txt").write_text("a red circle\n\n a blue square \n")
    assert read_captions(tmp_path / "captions.txt") == ["a red circle", "a blue square"]
    with pytest.raises(ValueError, match="Give both reference_images and reference_captions, or neither"):
        ZSCLPlugin(reference_images=str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="reference image folder"):
        ZSCLPlugin(reference_images=str(tmp_path / "nowhere"), reference_captions=str(tmp_path / "captions.txt"))


def test_the_world_reference_set_is_its_own_stream_of_captioned_scenes():
    reference = world_reference_set(3)
    assert len(reference.images) == 3 and len(reference.captions) == 15
    assert len(set(STREAMS.values())) == len(STREAMS) and 0 not in STREAMS.values()  # 0: the pretraining corpus
    assert STREAMS["reference"] not in (STREAMS["train"], STREAMS["test"], STREAMS["scenes"])


# ---------------------------------------------------------------------------------- ZSCL


def zscl_session(model, generated, session=0, **kwargs):
    plugin = ZSCLPlugin(**({"max_reference_images": 12, "ref_batch_size": 4} | kwargs))
    return plugin, start_session(model, plugin, streams(generated), session, images_of())


def reference_features(model, plugin, index):
    """Image features of the reference images ``index`` and text features of every caption, computed directly."""
    images = torch.stack([plugin._reference.images[i] for i in index])
    tokens = model.tokenizer(list(plugin._reference.captions))
    with torch.no_grad():
        return F.normalize(model.clip.encode_image(images), dim=-1), F.normalize(model.clip.encode_text(tokens), dim=-1)


@pytest.mark.parametrize("update", UPDATES)
def test_zscl_on_an_unchanged_student_adds_exactly_zero(make_model, generated, update):
    model = make_model(update=update)
    plugin, strategy = zscl_session(model, generated, student_text=True)
    loss = plugin_term(plugin, strategy)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    assert loss.item() == 0.0
    assert all(g is None or torch.equal(g, torch.zeros_like(g)) for g in grads)
    assert any(g is not None for g in grads)


@pytest.mark.parametrize("student_text", [False, True])
def test_zscl_term_equals_hand_computation_against_the_original_model(make_model, generated, student_text):
    model = make_model(update="whole")
    plugin, strategy = zscl_session(model, generated, student_text=student_text, image_weight=0.5, text_weight=2.0,
                                    l2_weight=0.1, seed=7)
    original = copy.deepcopy(model)
    perturb(model)
    term = plugin_term(plugin, strategy).item()
    index = torch.randperm(12, generator=torch.Generator().manual_seed(7))[:4].tolist()
    image_t, text_t = reference_features(original, plugin, index)
    image_s, text_s = reference_features(model, plugin, index)
    text_s = text_s if student_text else text_t
    student = model.clip.logit_scale.exp() * image_s @ text_s.T
    teacher = original.clip.logit_scale.exp() * image_t @ text_t.T  # [4, 60]
    distil = 0.5 * (soft_cross_entropy(teacher, student, 2.0) - entropy(teacher, 2.0)) + \
        2.0 * (soft_cross_entropy(teacher.T, student.T, 2.0) - entropy(teacher.T, 2.0))
    l2 = sum(((p - q) ** 2).sum() for p, q in zip(trained_parameters(model).values(),
                                                  trained_parameters(original).values()))
    assert distil > 0 and term == pytest.approx((distil + 0.1 * l2).item(), rel=1e-4)


def test_zscl_teacher_is_the_original_model_computed_once(make_model, generated, monkeypatch):
    model = make_model(update="whole")
    plugin, _ = zscl_session(model, generated)
    teacher = {n: t.clone() for n, t in plugin._teacher.items()}
    image_t, text_t = reference_features(model, plugin, range(12))
    assert torch.allclose(teacher["image"], image_t, atol=1e-6) and torch.allclose(teacher["text"], text_t, atol=1e-6)
    perturb(model)
    calls = []
    monkeypatch.setattr("avalanche_clip.training.plugins.zscl.encode_reference", lambda *a: calls.append(a))
    state = plugin.state_dict()
    start_session(model, plugin, streams(generated), 1, images_of())  # the next session: same teacher
    resumed = ZSCLPlugin(max_reference_images=12, ref_batch_size=4)
    resumed.load_state_dict(state)
    start_session(model, resumed, streams(generated), 1, images_of())
    assert not calls
    for restored in (plugin, resumed):
        assert all(torch.equal(restored._teacher[n], t) for n, t in teacher.items())


def test_zscl_weight_ensembling_leaves_the_running_average_of_every_we_every_th_step(make_model, generated):
    model = make_model(update="image")
    start = weights(model)
    seen = []

    class Spy:
        def after_training_iteration(self, strategy, **kwargs):
            seen.append(weights(strategy.model))

    plugin = ZSCLPlugin(we_every=2, max_reference_images=12, ref_batch_size=4)
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.5), train_mb_size=4,
                            plugins=[plugin, Spy()], evaluator=None)
    strategy.train(streams(generated).train_stream[0])
    members = [start] + seen[::2]  # the start, then steps 0, 2, 4, ...
    assert len(seen) >= 4
    for name, param in trained_parameters(model).items():
        expected = torch.stack([m[name] for m in members]).mean(0)
        assert torch.allclose(param, expected, atol=1e-6), name
        assert not torch.allclose(param, seen[-1][name])


def test_zscl_refuses_a_reference_set_smaller_than_a_step(make_model, generated):
    with pytest.raises(ValueError, match="reference set has 3 images, fewer than the 4"):
        zscl_session(make_model(), generated, max_reference_images=3)


# --------------------------------------------------------------------- the command line


@pytest.mark.parametrize("protocol", ["ost", "mst"])
def test_wise_ft_and_zscl_run_on_the_world_from_the_command_line(tmp_path, protocol):
    from avalanche_clip.cli import run_command

    small = ["--data.train_per_class", "2", "--data.test_per_class", "1", "--data.zeroshot_per_class", "1",
             "--data.retrieval_size", "4", "--training.epochs", "1", "--training.batch_size", "8",
             "--evaluation.tensorboard", "false", "--evaluation.retrieval_ks", "[1]", "--evaluation.zeroshot_top_k",
             "[1]", "--checkpoint.enabled", "false", "--protocol.name", protocol, "--protocol.n_sessions", "2"]
    plugins = ["--plugins+=WiSEFTPlugin", "--plugins.alpha", "0.5",
               "--plugins+=ZSCLPlugin", "--plugins.we_every", "2", "--plugins.max_reference_images", "16"]
    results = run_command(["--output_dir", str(tmp_path), "--model.name", "world", *small, *plugins])
    info = json.loads((tmp_path / "run.json").read_text())
    assert (info["method"], info["protocol"]) == ("WiSE-FT+ZSCL", protocol.upper())
    assert results["experiences_completed"] == (1 if protocol == "ost" else 2)
    assert math.isfinite(results["table"]["UT-Acc"]["test_stream"]["value"])
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())["plugins"]
    assert [p["class_path"].rsplit(".", 1)[1] for p in saved] == ["WiSEFTPlugin", "ZSCLPlugin"]
    assert (saved[0]["init_args"]["alpha"], saved[1]["init_args"]["we_every"]) == (0.5, 2)
