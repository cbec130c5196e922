"""The speed levers change no number: each equals the unoptimised computation it replaces.

Trimmed text encoding equals OpenCLIP's full-context encoding (features and gradients), for class
prompts and VR-LwF's pseudo sentences; the frozen tower's features that teacher and student share
equal features computed separately; and with every lever on (trimming, shared frozen towers,
teacher prompts cached per session, the closed-form GFK, RKR's low-rank path, length-sorted
evaluation), each method's training loss on a fixed batch equals a reference written here the
slow way: OpenCLIP's own full-context encoders, a teacher that recomputes everything, plain KL
formulas, the GFK matrix ``G`` integrated numerically, RKR's rectifiers folded into dense weights.
"""

from __future__ import annotations

import copy

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from torch import nn

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark, world
from avalanche_clip.evaluation.encoding import encode_texts
from avalanche_clip.models import CLIPClassifier, PromptVocabulary, RectifiedLinear, encode_text
from avalanche_clip.training import CLIPStrategy, GeoDLPlugin, IMMPlugin, LwFPlugin, RKRPlugin, VRLwFPlugin
from avalanche_clip.training.plugins import Teacher
from avalanche_clip.training.plugins.vr_lwf import pseudo_sentences
from conftest import CLASS_NAMES, classifier_factory

TOLERANCE = 1e-5
UPDATES = ["whole", "image", "text"]
ALPHA = 0.5


@pytest.fixture(scope="module")
def long_context_clip():
    """A tiny CLIP with ViT-B-32's text context (77) and OpenAI's tokenizer, so trimming cuts a lot."""
    torch.manual_seed(1)
    clip = open_clip.model.CLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=32),
        text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2),
    )
    return clip, open_clip.SimpleTokenizer(context_length=77)


@pytest.fixture
def make_long_model(long_context_clip):
    return classifier_factory(*long_context_clip)


def world_model() -> CLIPClassifier:
    torch.manual_seed(2)
    return world.world_classifier(world.build_world_clip())


# ------------------------------------------------------------------- trimmed encoding


def text_inputs(model: CLIPClassifier, names) -> dict[str, torch.Tensor]:
    """Prompts of ``names`` in the model's templates, and 100 pseudo sentences of 10 tokens, ``[N, L]``."""
    prompts = PromptVocabulary.build(names, model.templates, model.tokenizer).tokens.flatten(0, 1)
    pseudo = pseudo_sentences(model.tokenizer_info, 100, 10, torch.Generator().manual_seed(0))
    return {"prompts": prompts, "pseudo sentences": pseudo}


@pytest.mark.parametrize("texts", ["prompts", "pseudo sentences"])
@pytest.mark.parametrize("which", ["long-context tiny CLIP", "world CLIP"])
def test_trimmed_text_encoding_equals_full_context_features_and_gradients(make_long_model, which, texts):
    if which == "world CLIP":
        model, names = world_model(), list(world.UPDATE_CATEGORIES)
    else:
        model, names = make_long_model(), CLASS_NAMES
    tokens = text_inputs(model, names)[texts]
    context = tokens.shape[1]
    assert int(model.text_lengths(tokens).max()) < context / 2  # the trimmed path really is shorter

    named = [(n, p) for n, p in model.clip.named_parameters() if not n.startswith("visual.") and p.requires_grad]
    weights = torch.randn(tokens.shape[0], model.clip.text_projection.shape[1],
                          generator=torch.Generator().manual_seed(5))  # [N, D]

    def features_and_grads(features):
        grads = torch.autograd.grad((F.normalize(features, dim=-1) * weights).sum(), [p for _, p in named],
                                    allow_unused=True)
        return features, grads

    trimmed, trimmed_grads = features_and_grads(encode_text(model.clip, tokens))
    full, full_grads = features_and_grads(model.clip.encode_text(tokens))  # OpenCLIP's own, whole context

    assert torch.allclose(trimmed, full, atol=TOLERANCE)
    for (name, _), a, b in zip(named, trimmed_grads, full_grads):
        assert (a is None) == (b is None), name
        assert a is None or (a - b).abs().max() <= TOLERANCE * b.abs().max(), name  # float32 sums of 100 texts
    assert any(g is not None and g.abs().max() > 0 for g in trimmed_grads)


def test_trim_text_switch_and_length_sorted_evaluation_equal_the_full_context_encoding(make_long_model):
    model = make_long_model().eval()
    captions = [f"a photo of {' '.join(['a red thing'] * (i % 7))} number {i} ." for i in range(23)]
    tokens = model.tokenizer(captions)
    assert model.text_lengths(tokens).unique().numel() > 1  # several lengths: the sort reorders
    with torch.no_grad():
        expected = F.normalize(model.clip.encode_text(tokens), dim=-1)  # [N, D], input order
        sorted_in_batches = encode_texts(model, tokens, batch_size=4, device=torch.device("cpu"))
        model.trim_text = False
        untrimmed = model.encode_text(tokens)
    assert torch.allclose(sorted_in_batches, expected, atol=TOLERANCE)
    assert torch.allclose(untrimmed, expected, atol=TOLERANCE)


# ------------------------------------------------------------- shared frozen towers


def perturb_trainable(model: CLIPClassifier, scale: float = 0.05) -> None:
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(scale * torch.randn(parameter.shape, generator=generator))


@pytest.mark.parametrize("update", ["image", "text"])
def test_shared_frozen_tower_features_equal_separately_computed_ones(make_long_model, update):
    model = make_long_model(update=update)
    model.set_vocabulary(CLASS_NAMES)
    original = copy.deepcopy(model.clip).eval()  # the teacher, computed separately
    teacher = Teacher(model, experience=0)
    perturb_trainable(model)  # the student trains; the frozen tower must still be shared exactly
    model.train()
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    pseudo = text_inputs(model, CLASS_NAMES)["pseudo sentences"]
    classes = list(range(len(CLASS_NAMES)))

    model(images)
    student = model.last_features
    student_pseudo = model.encode_text(pseudo)
    shared = {
        "image": teacher.image_features(images, student.image),
        "pseudo": teacher.text_features(pseudo, student_pseudo),
        "prompts": teacher.prompt_features(classes, student.text),
    }
    with torch.no_grad():
        separate = {
            "image": F.normalize(original.encode_image(images), dim=-1),
            "pseudo": F.normalize(original.encode_text(pseudo), dim=-1),
            "prompts": F.normalize(original.encode_text(model.vocabulary.tokens[:, 0]), dim=-1),
        }
    students = {"image": student.image, "pseudo": student_pseudo, "prompts": student.text}
    frozen = {"image": ["pseudo", "prompts"], "text": ["image"]}[update]
    for name in frozen:  # the teacher hands back the student's own features of the frozen tower...
        assert torch.equal(shared[name], students[name].detach()), name
    for name, features in shared.items():  # ...and every teacher feature equals the separate teacher's
        assert torch.allclose(features, separate[name], atol=TOLERANCE), name
    trained = {"image": "image", "text": "pseudo"}[update]
    assert not torch.allclose(students[trained], separate[trained], atol=1e-3)  # the student did change


# ------------------------------------------------------------- losses vs references


def reference_features(clip: nn.Module, images: torch.Tensor, tokens: torch.Tensor):
    """OpenCLIP's own encoders on the full context: normalised image ``[B, D]`` and text ``[N, D]``."""
    return F.normalize(clip.encode_image(images), dim=-1), F.normalize(clip.encode_text(tokens), dim=-1)


def reference_prompts(clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Class features ``[C, D]`` of prompt tokens ``[C, T, L]``: normalised mean of normalised templates."""
    per_template = torch.stack([F.normalize(clip.encode_text(tokens[:, t]), dim=-1) for t in range(tokens.shape[1])])
    return F.normalize(per_template.mean(dim=0), dim=-1)


def reference_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    log_q, log_p = teacher_logits.log_softmax(dim=-1), student_logits.log_softmax(dim=-1)
    return (log_q.exp() * (log_q - log_p)).sum(dim=-1).mean()


def reference_gfk(student: torch.Tensor, teacher: torch.Tensor, subspace_dim: int = 128) -> torch.Tensor:
    """``mean_i z_iᵀ G z_i`` with the ``[D, D]`` matrix ``G = ∫₀¹ Φ(t) Φ(t)ᵀ dt`` integrated numerically.

    ``Φ(t)`` is the geodesic between the subspaces: ``Φ(0)`` spans the student's top right singular
    vectors, ``Φ(1)`` the teacher's (Gong et al. 2012). 48-point Gauss-Legendre, float64.
    """
    s, t = student.double(), teacher.double()
    dim = min(subspace_dim, *s.shape)
    basis_s = torch.linalg.svd(s, full_matrices=False)[2][:dim].T  # [D, d]
    basis_t = torch.linalg.svd(t, full_matrices=False)[2][:dim].T  # [D, d]
    u, cosines, vh = torch.linalg.svd(basis_s.T @ basis_t)
    theta = torch.arccos(cosines.clamp(-1.0, 1.0))  # [d]
    start = basis_s @ u  # Φ(0) [D, d]
    toward = basis_t @ vh.T - start * cosines  # [D, d], column i of norm sin θ_i
    nodes, weights = (torch.as_tensor(a, dtype=torch.float64) for a in np.polynomial.legendre.leggauss(48))
    nodes, weights = (nodes + 1) / 2, weights / 2  # on [0, 1]
    g = torch.zeros(s.shape[1], s.shape[1], dtype=torch.float64)
    for node, weight in zip(nodes, weights):
        along_geodesic = torch.where(theta > 1e-12, torch.sin(node * theta) / torch.sin(theta), node)  # → t at θ=0
        phi = start * torch.cos(node * theta) + toward * along_geodesic  # [D, d]
        g += weight * phi @ phi.T
    z = s - t  # [N, D]
    return ((z @ g) * z).sum(dim=1).mean().float()


def folded(clip: nn.Module) -> nn.Module:
    """A copy of ``clip`` whose RKR layers are dense ``nn.Linear`` with ``s ⊙ (W + U D)`` and ``s ⊙ b``."""
    clip = copy.deepcopy(clip)
    modules = dict(clip.named_modules())
    for name, module in list(modules.items()):
        if isinstance(module, RectifiedLinear):
            dense = nn.Linear(module.base.in_features, module.base.out_features)
            with torch.no_grad():
                dense.weight.copy_(module.scale[:, None] * (module.base.weight + module.up @ module.down))
                dense.bias.copy_(module.scale * module.base.bias)
            parent, _, attribute = name.rpartition(".")
            setattr(modules[parent], attribute, dense)
    return clip


class Capture(SupervisedPlugin):
    """Before each step: the student, the pseudo-sentence generator; at before_backward: the loss and batch."""

    def __init__(self, method, steps: int):
        super().__init__()
        self.method, self.steps, self.records = method, steps, []

    def before_training_iteration(self, strategy, **kwargs):
        generator = getattr(self.method, "generator", None)
        self.records.append({"clip": copy.deepcopy(strategy.model.clip),
                             "generator": None if generator is None else generator.get_state()})

    def before_backward(self, strategy, **kwargs):
        self.records[-1] |= {"loss": strategy.loss.detach().clone(), "x": strategy.mb_x.clone(),
                             "y": strategy.mb_y.clone()}

    def after_training_iteration(self, strategy, **kwargs):
        if len(self.records) >= self.steps:
            strategy.stop_training()


def reference_loss(method: str, update: str, record: dict, teacher_clip: nn.Module, model: CLIPClassifier,
                   current: list[int], seen: list[int], lwf_term: bool) -> torch.Tensor:
    """The method's loss on ``record``'s batch, computed the slow way from the captured student and teacher."""
    student = folded(record["clip"]) if method == "RKR" else record["clip"]
    teacher = teacher_clip
    images, labels = record["x"], record["y"]
    prompt_tokens = model.vocabulary.tokens  # [C, T, L]
    with torch.no_grad():
        image_s = F.normalize(student.encode_image(images), dim=-1)
        prompts_s = reference_prompts(student, prompt_tokens)
        scale_s = student.logit_scale.exp()
        logits = scale_s * image_s @ prompts_s.T  # [B, C]
        masked = torch.full_like(logits, float("-inf"))
        masked[:, current] = logits[:, current]
        loss = F.cross_entropy(masked, labels)
        if method in ("FT", "IMM", "RKR"):
            return loss
        image_t = F.normalize(teacher.encode_image(images), dim=-1)
        prompts_t = reference_prompts(teacher, prompt_tokens)
        scale_t = teacher.logit_scale.exp()
        lwf = reference_kl(scale_s * image_s @ prompts_s[seen].T, scale_t * image_t @ prompts_t[seen].T)
        if method == "LwF":
            return loss + ALPHA * lwf
        if method == "VR-LwF":
            generator = torch.Generator()
            generator.set_state(record["generator"])
            pseudo = pseudo_sentences(model.tokenizer_info, 100, 10, generator)
            _, pseudo_s = reference_features(student, images, pseudo)
            _, pseudo_t = reference_features(teacher, images, pseudo)
            term = reference_kl(scale_s * image_s @ pseudo_s.T, scale_t * image_t @ pseudo_t.T)
            return loss + ALPHA * (term + (lwf if lwf_term else 0.0))
        assert method == "GeoDL"
        if update in ("whole", "image"):
            loss = loss + ALPHA * reference_gfk(image_s, image_t)
        if update in ("whole", "text"):
            loss = loss + ALPHA * reference_gfk(prompts_s[seen], prompts_t[seen])
        return loss


PLUGINS = {"FT": lambda: [], "LwF": LwFPlugin, "VR-LwF": VRLwFPlugin, "GeoDL": GeoDLPlugin, "IMM": IMMPlugin,
           "RKR": RKRPlugin}


def train_and_capture(model, method: str, benchmark, sessions: int, steps: int = 2) -> tuple[Capture, CLIPStrategy]:
    made = PLUGINS[method]()
    plugins = made if isinstance(made, list) else [made]
    capture = Capture(plugins[0] if plugins else None, steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # big steps: step 2's student differs
    strategy = CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=8, device="cpu", precision="fp32",
                            plugins=plugins + [capture], evaluator=None)
    for experience in benchmark.train_stream[:sessions]:
        capture.records = []
        strategy.train(experience)
    assert len(capture.records) == steps
    return capture, strategy


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("method", list(PLUGINS))
def test_ost_loss_with_every_lever_on_equals_the_unoptimised_reference(make_long_model, generated, method, update):
    model = make_long_model(update=update)
    benchmark = ost_benchmark(*generated, CLASS_NAMES)
    capture, _ = train_and_capture(model, method, benchmark, sessions=1)
    classes = list(range(len(CLASS_NAMES)))
    teacher = capture.records[0]["clip"]  # the model at the session start
    for step, record in enumerate(capture.records):
        expected = reference_loss(method, update, record, teacher, model, classes, classes, lwf_term=False)
        assert torch.allclose(record["loss"], expected, atol=TOLERANCE), (step, record["loss"], expected)
    if method in ("LwF", "VR-LwF", "GeoDL"):  # step 2's distillation term is not zero: the test can fail
        ce_only = reference_loss("FT", update, capture.records[1], teacher, model, classes, classes, False)
        assert (capture.records[1]["loss"] - ce_only).abs() > 1e-4


@pytest.mark.parametrize("update", ["whole", "image"])
@pytest.mark.parametrize("method", ["LwF", "VR-LwF", "GeoDL"])
def test_mst_second_session_loss_with_every_lever_on_equals_the_unoptimised_reference(make_long_model, generated,
                                                                                       method, update):
    model = make_long_model(update=update)
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=3)
    capture, _ = train_and_capture(model, method, benchmark, sessions=2)
    experience = benchmark.train_stream[1]
    current = sorted(experience.classes_in_this_experience)
    seen = sorted(experience.classes_seen_so_far)
    teacher = capture.records[0]["clip"]  # the model at the start of session 2
    for step, record in enumerate(capture.records):
        expected = reference_loss(method, update, record, teacher, model, current, seen, lwf_term=True)
        assert torch.allclose(record["loss"], expected, atol=TOLERANCE), (step, record["loss"], expected)
