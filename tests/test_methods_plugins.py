"""The method plugins on a tiny CLIP: hand-computed terms, teachers, merges, rectifiers, towers, runs."""

import copy
from types import SimpleNamespace

import open_clip
import pytest
import torch
import torch.nn.functional as F
from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
from avalanche.training.plugins import EvaluationPlugin, EWCPlugin

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark
from avalanche_clip.models import CLIPClassifier, RectifiedLinear, rectifiers, tower_of
from avalanche_clip.training import CLIPStrategy, GeoDLPlugin, IMMPlugin, LwFPlugin, RKRPlugin, VRLwFPlugin
from avalanche_clip.training.plugins import authors_gfk_distance, gfk_distance, vr_lwf
from conftest import CLASS_NAMES

DISTILLATION = [LwFPlugin, VRLwFPlugin, GeoDLPlugin]
UPDATES = ["whole", "image", "text"]
RECTIFIER = ("up", "down", "scale")


def streams(generated, protocol="mst", n_sessions=3):
    if protocol == "ost":
        return ost_benchmark(*generated, CLASS_NAMES)
    return mst_benchmark(*generated, CLASS_NAMES, n_sessions=n_sessions)


def start_session(model, plugin, benchmark, session, images):
    """Adapt the model to ``session`` (after the earlier ones) and start the plugin, on a stub strategy."""
    model.train()
    for experience in benchmark.train_stream[: session + 1]:
        model.adaptation(experience)
    strategy = SimpleNamespace(model=model, experience=benchmark.train_stream[session], mb_x=images,
                               loss=torch.zeros(()))
    plugin.before_training_exp(strategy)
    return strategy


def plugin_term(plugin, strategy):
    """One training forward and the plugin's added loss."""
    strategy.model(strategy.mb_x)
    strategy.loss = torch.zeros(())
    plugin.before_backward(strategy)
    return strategy.loss


def perturb(model, scale=0.05, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.add_(scale * torch.randn(param.shape, generator=generator))


def kl(student_logits, teacher_logits):
    q, p = teacher_logits.softmax(-1), student_logits.softmax(-1)
    return (q * (q.log() - p.log())).sum(-1).mean()


def features(model, images, tokens):
    """Image, text and scale of ``model``, computed directly from the OpenCLIP model."""
    with torch.no_grad():
        image = F.normalize(model.clip.encode_image(images), dim=-1)
        text = F.normalize(model.clip.encode_text(tokens), dim=-1)
        return image, text, model.clip.logit_scale.exp()


def prompt_tokens(model, class_ids):
    return model.vocabulary.tokens[class_ids, 0]  # one template


def images_of(seed=0, n=6):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------ an identical teacher adds 0


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("plugin_cls", DISTILLATION)
@pytest.mark.parametrize("session", [0, 1])
def test_identical_teacher_adds_exactly_zero_with_zero_gradient(make_model, generated, plugin_cls, update, session):
    model = make_model(update=update)
    plugin = plugin_cls()
    strategy = start_session(model, plugin, streams(generated), session, images_of())
    loss = plugin_term(plugin, strategy)
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, trainable, allow_unused=True)
    assert loss.item() == 0.0
    assert all(g is None or torch.equal(g, torch.zeros_like(g)) for g in grads)
    assert any(g is not None for g in grads)  # the term is connected to the student


# ------------------------------------------------------------------ hand computations


@pytest.mark.parametrize("update", UPDATES)
def test_lwf_term_equals_hand_computation_over_the_seen_classes(make_model, generated, update):
    model = make_model(update=update)
    plugin = LwFPlugin(alpha=0.7)
    images = images_of()
    strategy = start_session(model, plugin, streams(generated), 1, images)  # MST session 2: classes 4-6
    teacher = copy.deepcopy(model)
    perturb(model)
    term = plugin_term(plugin, strategy)
    seen = list(range(7))
    assert model.last_features.class_ids.tolist() == seen  # the forward encoded every seen class
    image_s, text_s, scale_s = features(model, images, prompt_tokens(model, seen))
    image_t, text_t, scale_t = features(teacher, images, prompt_tokens(teacher, seen))
    hand = 0.7 * kl(scale_s * image_s @ text_s.T, scale_t * image_t @ text_t.T)
    assert hand > 0 and term.item() == pytest.approx(hand.item(), rel=1e-4)


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("protocol, session, with_lwf", [("ost", 0, False), ("mst", 0, False), ("mst", 1, True)])
def test_vr_lwf_term_equals_hand_computation_with_fixed_pseudo_ids(make_model, generated, monkeypatch, update,
                                                                     protocol, session, with_lwf):
    model = make_model(update=update)
    info = model.tokenizer_info
    ids = torch.tensor([[320, 1125, 539, 320, 2368, 1000, 4001, 12], [5, 6, 7, 8, 9, 10, 11, 12],
                        [40000, 30000, 20000, 10000, 999, 888, 777, 666]])
    tokens = F.pad(torch.cat([torch.full((3, 1), info.sot_id), ids, torch.full((3, 1), info.eot_id)], 1),
                   (0, info.context_length - 10))
    monkeypatch.setattr(vr_lwf, "pseudo_sentences", lambda *args: tokens)
    plugin = VRLwFPlugin(alpha=0.5)
    images = images_of()
    strategy = start_session(model, plugin, streams(generated, protocol), session, images)
    teacher = copy.deepcopy(model)
    perturb(model)
    term = plugin_term(plugin, strategy)
    image_s, words_s, scale_s = features(model, images, tokens)
    image_t, words_t, scale_t = features(teacher, images, tokens)
    hand = kl(scale_s * image_s @ words_s.T, scale_t * image_t @ words_t.T)
    if with_lwf:
        seen = list(range(7))
        _, text_s, _ = features(model, images, prompt_tokens(model, seen))
        _, text_t, _ = features(teacher, images, prompt_tokens(teacher, seen))
        hand = hand + kl(scale_s * image_s @ text_s.T, scale_t * image_t @ text_t.T)
    assert hand > 0 and term.item() == pytest.approx(0.5 * hand.item(), rel=1e-4)


def test_vr_lwf_lwf_term_can_be_turned_off(make_model, generated):
    model = make_model()
    plugin = VRLwFPlugin(lwf_term=False)
    start_session(model, plugin, streams(generated), 1, images_of())
    model(images_of())
    assert model.last_features.class_ids.tolist() == [4, 5, 6]  # no seen-class prompts requested


def test_vr_lwf_redraws_pseudo_sentences_every_step_from_its_seed(make_model, generated, monkeypatch):
    drawn = []
    real = vr_lwf.pseudo_sentences
    monkeypatch.setattr(vr_lwf, "pseudo_sentences", lambda *args: drawn.append(real(*args)) or drawn[-1])
    for _ in range(2):
        model = make_model()
        plugin = VRLwFPlugin(seed=7, num_pseudo=4)
        strategy = start_session(model, plugin, streams(generated), 0, images_of())
        plugin_term(plugin, strategy)
        plugin_term(plugin, strategy)
    assert drawn[0].shape == (4, model.tokenizer_info.context_length)
    assert not torch.equal(drawn[0], drawn[1])
    assert torch.equal(drawn[0], drawn[2]) and torch.equal(drawn[1], drawn[3])


@pytest.mark.parametrize("update, image_term, text_term", [("whole", True, True), ("image", True, False),
                                                           ("text", False, True)])
@pytest.mark.parametrize("kernel", ["exact", "authors"])
def test_geodl_terms_per_variant_equal_hand_computation(make_model, generated, update, image_term, text_term,
                                                        kernel):
    model = make_model(update=update)
    plugin = GeoDLPlugin(alpha=0.5, subspace_dim=3, kernel=kernel)
    images = images_of()
    strategy = start_session(model, plugin, streams(generated), 1, images)
    teacher = copy.deepcopy(model)
    perturb(model)
    term = plugin_term(plugin, strategy)
    seen = list(range(7))
    image_s, text_s, _ = features(model, images, prompt_tokens(model, seen))
    image_t, text_t, _ = features(teacher, images, prompt_tokens(teacher, seen))
    def distance(student, teacher):
        if kernel == "authors":
            return authors_gfk_distance(student, teacher).item()
        return gfk_distance(student, teacher, subspace_dim=3).item()

    hand = (distance(image_s, image_t) if image_term else 0.0) + (distance(text_s, text_t) if text_term else 0.0)
    assert plugin.label == {"exact": "GeoDL", "authors": "GeoDL-authors"}[kernel]
    assert hand > 0 and term.item() == pytest.approx(0.5 * hand, rel=1e-3)


# --------------------------------------------------------------------------- teachers


@pytest.mark.parametrize("update", UPDATES)
def test_teacher_copies_only_the_towers_that_train(make_model, generated, update):
    model = make_model(update=update)
    plugin = LwFPlugin()
    start_session(model, plugin, streams(generated), 0, images_of())
    teacher = plugin.teacher
    student = dict(model.clip.named_parameters())
    for name, param in teacher.clip.named_parameters():
        assert (param is student[name]) == (not student[name].requires_grad), name
        assert not param.requires_grad and torch.equal(param, student[name])
    assert not teacher.clip.training
    assert teacher.image_changes == (update != "text") and teacher.text_changes == (update != "image")


def test_rkr_teacher_copies_only_the_rectifiers(make_model, generated):
    model = make_model()
    rkr, lwf = RKRPlugin(), LwFPlugin()
    rkr.prepare(model)
    start_session(model, lwf, streams(generated), 0, images_of())
    copied = {n for n, p in lwf.teacher.clip.named_parameters() if p is not dict(model.clip.named_parameters())[n]}
    assert copied and {n.rsplit(".", 1)[-1] for n in copied} == {"up", "down", "scale"}


class Recorder:
    """Records the teacher at the first step of each session and the model before and after IMM."""

    def __init__(self, distiller):
        self.distiller = distiller
        self.teachers, self.unmerged, self.merged = [], [], []

    def before_training_iteration(self, strategy, **kwargs):
        if strategy.clock.train_exp_iterations == 0:
            self.teachers.append({n: p.clone() for n, p in self.distiller.teacher.clip.named_parameters()})

    def snapshot(self, strategy):
        return {n: p.detach().clone() for n, p in strategy.model.clip.named_parameters()}


def test_mst_teacher_is_the_merged_model_at_the_end_of_the_previous_session(make_model, generated):
    model = make_model()
    lwf = LwFPlugin()
    recorder = Recorder(lwf)

    class BeforeMerge:
        def after_training_exp(self, strategy, **kwargs):
            recorder.unmerged.append(recorder.snapshot(strategy))

    class AfterMerge:
        def after_training_exp(self, strategy, **kwargs):
            recorder.merged.append(recorder.snapshot(strategy))

    original = {n: p.detach().clone() for n, p in model.clip.named_parameters()}
    plugins = [recorder, BeforeMerge(), IMMPlugin(), lwf, AfterMerge()]
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=plugins, evaluator=None)
    for experience in streams(generated).train_stream[:2]:
        strategy.train(experience)
    first, second = recorder.teachers
    assert all(torch.equal(first[n], original[n]) for n in first)  # session 1: the original model
    assert all(torch.equal(second[n], recorder.merged[0][n]) for n in second)  # session 2: the merged one
    assert any(not torch.equal(second[n], recorder.unmerged[0][n]) for n in second)
    assert lwf.teacher is None  # released between sessions


# -------------------------------------------------------------------------------- IMM


def imm_run(make_model, generated, mode, sessions=1):
    model = make_model(update="image")
    starts, ends = [], []

    class Spy:
        def before_training_exp(self, strategy, **kwargs):
            starts.append({n: p.detach().clone() for n, p in model.named_parameters()})

        def after_training_exp(self, strategy, **kwargs):
            ends.append({n: p.detach().clone() for n, p in model.named_parameters()})

    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[Spy(), IMMPlugin(mode=mode, alpha=0.5)], evaluator=None)
    for experience in streams(generated).train_stream[:sessions]:
        strategy.train(experience)
    return model, starts, ends


def test_mean_imm_merges_the_trained_parameters_halfway_after_a_session(make_model, generated):
    model, (start,), (end,) = imm_run(make_model, generated, "mean")
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert not torch.equal(end[name], start[name]), name
            assert torch.equal(param, 0.5 * end[name] + 0.5 * start[name]), name
        else:
            assert torch.equal(param, start[name]), name


def test_mode_imm_lies_between_the_old_and_new_parameters(make_model, generated):
    model, starts, ends = imm_run(make_model, generated, "mode", sessions=2)
    changed = 0
    for name, param in model.named_parameters():
        low = torch.minimum(starts[1][name], ends[1][name]) - 1e-6
        high = torch.maximum(starts[1][name], ends[1][name]) + 1e-6
        assert ((param >= low) & (param <= high)).all(), name
        changed += param.requires_grad and not torch.allclose(param, 0.5 * (starts[1][name] + ends[1][name]))
    assert changed  # Fisher-weighted, not the mean


# -------------------------------------------------------------------------------- RKR


def test_rkr_trains_only_the_rectifiers_which_the_optimizer_holds_across_sessions(make_model, generated):
    model = make_model()
    base = {n: p.detach().clone() for n, p in model.clip.named_parameters()}
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[RKRPlugin()], evaluator=None)
    benchmark = streams(generated)
    strategy.train(benchmark.train_stream[0])
    layers = rectifiers(model.clip)
    after_first = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    strategy.train(benchmark.train_stream[1])
    held = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert held == {id(p) for p in trainable.values()}
    assert {n.rsplit(".", 1)[-1] for n in trainable} == {"up", "down", "scale"}
    assert rectifiers(model.clip) == layers and all(isinstance(m, RectifiedLinear) for m in layers.values())
    assert any(not torch.equal(p, after_first[n]) for n, p in trainable.items())  # kept training
    for name, param in model.clip.named_parameters():
        if not param.requires_grad:
            assert torch.equal(param, base[name.replace(".base.", ".")]), name  # logit_scale too


def test_rkr_refuses_a_model_rectified_with_another_rank(make_model):
    model = make_model()
    RKRPlugin(rank=2).prepare(model)
    RKRPlugin(rank=2).prepare(model)  # idempotent
    with pytest.raises(ValueError, match=r"rectifiers of rank \[2\], not rank=4"):
        RKRPlugin(rank=4).prepare(model)


# ------------------------------------------------------------------- frozen towers stay


def evaluated_run(model, plugins, benchmark, lr=1e-3, **kwargs):
    """Train every experience of ``benchmark`` with an EvaluationPlugin; return the last results."""
    evaluator = EvaluationPlugin(accuracy_metrics(experience=True, stream=True), loss_metrics(epoch=True),
                                 loggers=[])
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                            train_mb_size=10, plugins=plugins, evaluator=evaluator, **kwargs)
    for experience in benchmark.train_stream:
        strategy.train(experience)
        results = strategy.eval(benchmark.test_stream)
    return results


PLUGIN_FACTORIES = {
    "lwf": lambda: [LwFPlugin()],
    "vr_lwf": lambda: [VRLwFPlugin(num_pseudo=8)],
    "geodl": lambda: [GeoDLPlugin()],
    "imm_mean": lambda: [IMMPlugin()],
    "imm_mode": lambda: [IMMPlugin(mode="mode")],
    "rkr": lambda: [RKRPlugin()],
}


@pytest.mark.parametrize("update, frozen", [("image", "text"), ("text", "image")])
@pytest.mark.parametrize("method", list(PLUGIN_FACTORIES))
def test_the_frozen_tower_stays_bit_identical(make_model, generated, method, update, frozen):
    model = make_model(update=update)
    before = {n: p.detach().clone() for n, p in model.clip.named_parameters()}
    results = evaluated_run(model, PLUGIN_FACTORIES[method](), streams(generated, n_sessions=2), lr=1e-2)
    assert 0.0 <= results["Top1_Acc_Stream/eval_phase/test_stream"] <= 1.0
    after = dict(model.clip.named_parameters())
    base = {n.replace(".base.", "."): p for n, p in after.items() if n.rsplit(".", 1)[-1] not in RECTIFIER}
    assert set(base) == set(before)
    assert all(torch.equal(base[n], before[n]) for n in before if tower_of(n) == frozen)
    moved = {tower_of(n) for n, p in after.items() if p.requires_grad and not torch.equal(p, before.get(n, -p))}
    assert update in moved and frozen not in moved  # the test can fail: the other tower did train


# ------------------------------------------------------------------ three-session runs


def mst_run(model, plugins, generated):
    """Train and evaluate 3 MST sessions; return the loss each step added to the cross-entropy."""
    added = []

    class LossSpy:
        def before_backward(self, strategy, **kwargs):
            added.append((strategy.clock.train_exp_counter, (strategy.loss - strategy.criterion()).item()))

    results = evaluated_run(model, [*plugins, LossSpy()], streams(generated))
    for i in range(3):
        assert 0.0 <= results[f"Top1_Acc_Exp/eval_phase/test_stream/Exp{i:03d}"] <= 1.0
    return added


@pytest.mark.parametrize("plugins", [
    lambda: [VRLwFPlugin(num_pseudo=16), IMMPlugin()],
    lambda: [RKRPlugin(), LwFPlugin()],
], ids=["vr_lwf+imm", "rkr+lwf"])
def test_composed_methods_train_and_evaluate_three_mst_sessions(make_model, generated, plugins):
    added = mst_run(make_model(), plugins(), generated)
    assert all(torch.isfinite(torch.tensor(value)) for _, value in added)
    assert any(value > 0 for session, value in added if session > 0)  # the distillation term is on


@pytest.mark.parametrize("method", ["lwf", "vr_lwf", "geodl", "imm_mean", "imm_mode", "rkr"])
def test_each_method_beside_avalanche_ewc_trains_and_evaluates_three_mst_sessions(make_model, generated, method):
    ewc = EWCPlugin(ewc_lambda=1.0)
    added = mst_run(make_model(), [*PLUGIN_FACTORIES[method](), ewc], generated)
    assert all(torch.isfinite(torch.tensor(value)) for _, value in added)
    assert set(ewc.importances) == {0, 1, 2}


# ----------------------------------------------------------------------- validation


@pytest.mark.parametrize("make, message", [
    (lambda: LwFPlugin(alpha=-0.1), "alpha must be a finite number >= 0"),
    (lambda: LwFPlugin(temperature=0), "temperature must be a finite number > 0"),
    (lambda: VRLwFPlugin(alpha=-1), "alpha must be a finite number >= 0"),
    (lambda: VRLwFPlugin(pseudo_length=2), "pseudo_length must be an integer >= 3"),
    (lambda: VRLwFPlugin(num_pseudo=0), "num_pseudo must be an integer >= 1"),
    (lambda: GeoDLPlugin(alpha=-1), "alpha must be a finite number >= 0"),
    (lambda: GeoDLPlugin(subspace_dim=0), "subspace_dim must be an integer >= 1"),
    (lambda: GeoDLPlugin(kernel="paper"), "kernel='paper' is not valid. Available: 'exact', 'authors'"),
    (lambda: GeoDLPlugin(complement_dim=0), "complement_dim must be an integer >= 1"),
    (lambda: IMMPlugin(alpha=-0.5), "alpha must be a finite number >= 0"),
    (lambda: IMMPlugin(alpha=1.5), r"alpha must be in \[0, 1\]"),
    (lambda: IMMPlugin(mode="median"), "mode='median' is not valid. Available: 'mean', 'mode'"),
    (lambda: RKRPlugin(rank=0), "rank must be an integer >= 1"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------- every protocol, variant


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("method", ["lwf", "vr_lwf", "geodl", "imm_mode", "rkr"])
def test_every_method_runs_ost_in_every_variant(make_model, generated, method, update):
    results = evaluated_run(make_model(update=update), PLUGIN_FACTORIES[method](), streams(generated, "ost"))
    assert 0.0 <= results["Top1_Acc_Stream/eval_phase/test_stream"] <= 1.0


@pytest.mark.parametrize("method", ["lwf", "vr_lwf", "geodl", "imm_mode", "rkr"])
def test_every_method_runs_in_bf16(make_model, generated, method):
    results = evaluated_run(make_model(), PLUGIN_FACTORIES[method](), streams(generated, "ost"), precision="bf16")
    assert 0.0 <= results["Top1_Acc_Stream/eval_phase/test_stream"] <= 1.0


def test_a_plugin_whose_classes_the_forward_did_not_encode_says_so(make_model, generated):
    model = make_model()
    plugin = LwFPlugin()
    strategy = start_session(model, plugin, streams(generated), 1, images_of())
    model.adaptation(streams(generated).train_stream[1])  # a new adaptation forgets the request
    with pytest.raises(RuntimeError, match=r"call model.request_text_features\(class_ids\)"):
        plugin_term(plugin, strategy)


def test_a_saved_teacher_refuses_a_model_of_another_variant(make_model, generated):
    plugin = LwFPlugin()
    start_session(make_model(update="image"), plugin, streams(generated), 0, images_of())
    resumed = LwFPlugin()
    resumed.load_state_dict(plugin.state_dict())
    with pytest.raises(ValueError, match="The saved teacher does not match the model"):
        start_session(make_model(update="whole"), resumed, streams(generated), 0, images_of())


def test_methods_work_on_a_custom_text_clip(generated):
    """``CustomTextCLIP`` keeps its text tower under ``clip.text``: teachers and RKR find it there."""
    torch.manual_seed(0)
    clip = open_clip.model.CustomTextCLIP(
        embed_dim=32, vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=32),
        text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=2, layers=2))
    model = CLIPClassifier(clip, open_clip.SimpleTokenizer(context_length=16), update="text")
    rkr, plugin = RKRPlugin(), VRLwFPlugin(num_pseudo=8)
    rkr.prepare(model)
    assert {n.split(".resblocks")[0] for n in rectifiers(model.clip)} == {"text.transformer"}
    strategy = start_session(model, plugin, streams(generated), 1, images_of())
    assert plugin_term(plugin, strategy).item() == 0.0
    perturb(model)
    assert plugin_term(plugin, strategy).item() > 0
