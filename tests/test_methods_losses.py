"""The methods' math without a strategy: KL, pseudo sentences, GFK distance, IMM merges, rectifiers."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avalanche_clip.models import RectifiedLinear, TokenizerInfo, add_rectifiers, rectifiers
from avalanche_clip.training.plugins import (
    authors_gfk_distance,
    distillation_kl,
    empirical_fisher,
    gfk_distance,
    mean_imm,
    mode_imm,
    pseudo_sentences,
    similarity_logits,
)
from avalanche_clip.training.plugins.geodl import authors_gfk_kernel, newton_schulz_inverse, orthogonal_complement
from conftest import CLASS_NAMES


# ------------------------------------------------------------------------------ KL


def hand_kl(student, teacher, temperature):
    total = 0.0
    for s_row, t_row in zip(student, teacher):
        zs = sum(math.exp(v / temperature) for v in s_row)
        zt = sum(math.exp(v / temperature) for v in t_row)
        for s, t in zip(s_row, t_row):
            q, p = math.exp(t / temperature) / zt, math.exp(s / temperature) / zs
            total += q * (math.log(q) - math.log(p))
    return total / len(student)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_distillation_kl_equals_hand_computation(temperature):
    student = [[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]
    teacher = [[3.0, 2.0, 1.0], [1.0, 0.5, 0.0]]
    value = distillation_kl(torch.tensor(student), torch.tensor(teacher), temperature=temperature)
    assert value.item() == pytest.approx(hand_kl(student, teacher, temperature), rel=1e-5)


def test_distillation_kl_gradient_is_p_minus_q_over_batch_and_temperature():
    student = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[3.0, 2.0, 1.0], [1.0, 0.5, 0.0]], requires_grad=True)
    distillation_kl(student, teacher, temperature=2.0).backward()
    expected = (F.softmax(student / 2, -1) - F.softmax(teacher / 2, -1)) / (2 * 2.0)
    assert torch.allclose(student.grad, expected, atol=1e-7)
    assert teacher.grad is None  # the teacher side is detached


def _logit_scale_gradient(kl, dtype: torch.dtype, seed: int) -> float:
    """d KL / d s for student logits ``s · cos`` with cosines of unit features and s = 100 (CLIP's)."""
    generator = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(32, 64, generator=generator, dtype=torch.float64), dim=-1)
    text = F.normalize(torch.randn(80, 64, generator=generator, dtype=torch.float64), dim=-1)
    teacher = 100.0 * image @ (text + 0.05 * torch.randn(text.shape, generator=generator, dtype=torch.float64)).T
    scale = torch.tensor(100.0, dtype=dtype, requires_grad=True)
    kl(scale * (image @ text.T).to(dtype), teacher.to(dtype)).backward()
    return scale.grad.item()


def test_distillation_kl_in_float32_is_as_exact_as_log_softmax_near_clip_logit_scale():
    def log_softmax_kl(student, teacher):
        q = torch.softmax(teacher, -1)
        return (q * (torch.log_softmax(teacher, -1) - torch.log_softmax(student, -1))).sum(-1).mean()

    def worst_error(kl):
        return max(abs(_logit_scale_gradient(kl, torch.float32, seed) / _logit_scale_gradient(
            log_softmax_kl, torch.float64, seed) - 1) for seed in range(10))

    # the worst relative error over 10 draws; x − logsumexp(x) was ~10× log_softmax's
    assert worst_error(distillation_kl) <= 2 * worst_error(log_softmax_kl)


def test_distillation_kl_of_identical_logits_is_exactly_zero_with_zero_gradient():
    logits = torch.randn(7, 13) * 5
    student = logits.clone().requires_grad_(True)
    value = distillation_kl(student, logits.clone(), temperature=1.5)
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(student.grad, torch.zeros_like(student))


def test_similarity_logits_are_scaled_cosines():
    image = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), dim=-1)
    text = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), dim=-1)
    expected = torch.tensor([[0.0, 10.0], [10 / math.sqrt(2), 10 / math.sqrt(2)]])
    assert torch.allclose(similarity_logits(image, text, torch.tensor(10.0)), expected)


# ------------------------------------------------------------------- pseudo sentences

INFO = TokenizerInfo(vocab_size=50, special_ids=(0, 48, 49), sot_id=48, eot_id=49, context_length=16)


def test_pseudo_sentences_are_sot_ordinary_ids_eot_then_padding():
    tokens = pseudo_sentences(INFO, 100, 10, torch.Generator().manual_seed(0))
    assert tokens.shape == (100, 16) and tokens.dtype == torch.long
    assert (tokens[:, 0] == 48).all() and (tokens[:, 9] == 49).all() and (tokens[:, 10:] == 0).all()
    ids = tokens[:, 1:9]
    assert ((ids >= 1) & (ids <= 47)).all()  # never a special token
    assert len(ids.unique()) == 47  # 800 uniform draws over 47 ids cover them all


def test_pseudo_sentences_follow_the_generator():
    first = pseudo_sentences(INFO, 5, 10, torch.Generator().manual_seed(3))
    again = pseudo_sentences(INFO, 5, 10, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    pseudo_sentences(INFO, 5, 10, generator)
    assert torch.equal(first, again)
    assert not torch.equal(first, pseudo_sentences(INFO, 5, 10, generator))  # redrawn every call


def test_pseudo_sentences_without_a_start_token():
    info = TokenizerInfo(vocab_size=50, special_ids=(0, 49), sot_id=None, eot_id=49, context_length=16)
    tokens = pseudo_sentences(info, 4, 10, torch.Generator().manual_seed(0))
    assert (tokens[:, 8] == 49).all() and (tokens[:, :8] != 0).all() and (tokens[:, 9:] == 0).all()


def test_pseudo_sentences_refuse_lengths_outside_the_context():
    with pytest.raises(ValueError, match="length must be between 3 and the context length 16"):
        pseudo_sentences(INFO, 4, 17, torch.Generator())


def test_pseudo_sentence_ids_come_from_the_real_tokenizer_vocabulary(make_model):
    info = make_model().tokenizer_info
    tokens = pseudo_sentences(info, 50, 10, torch.Generator().manual_seed(0))
    assert not torch.isin(tokens[:, 1:9], torch.tensor(info.special_ids)).any()
    assert tokens[:, 1:9].max() < info.vocab_size


# ----------------------------------------------------------------------- GFK distance


def test_gfk_distance_equals_hand_computation_for_two_lines():
    # student line e1, teacher line at 45°: the geodesic Φ(t) = (cos tπ/4, sin tπ/4) gives
    # G = ∫ΦΦᵀ = [[1/2 + 1/π, 1/π], [1/π, 1/2 − 1/π]]
    root = math.sqrt(0.5)
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[root, root]])
    z = (1 - root, -root)
    hand = (0.5 + 1 / math.pi) * z[0] ** 2 + 2 / math.pi * z[0] * z[1] + (0.5 - 1 / math.pi) * z[1] ** 2
    assert gfk_distance(student, teacher, subspace_dim=1).item() == pytest.approx(hand, rel=1e-6)


def test_gfk_distance_equals_the_integral_along_the_geodesic():
    torch.manual_seed(0)
    student = F.normalize(torch.randn(6, 8, dtype=torch.float64), dim=-1)
    teacher = F.normalize(student + 0.5 * torch.randn(6, 8, dtype=torch.float64), dim=-1)
    basis_s = torch.linalg.svd(student)[2][:3].T
    basis_t = torch.linalg.svd(teacher)[2][:3].T
    u, cosines, vh = torch.linalg.svd(basis_s.T @ basis_t)
    theta = torch.arccos(cosines)
    along = basis_s @ u
    away = (along * cosines - basis_t @ vh.T) / torch.sin(theta)  # orthonormal complement direction
    steps = torch.linspace(0, 1, 4001, dtype=torch.float64)
    kernel = sum(
        (w * (along * torch.cos(t * theta) - away * torch.sin(t * theta))
         @ (along * torch.cos(t * theta) - away * torch.sin(t * theta)).T)
        for t, w in zip(steps, [0.5] + [1.0] * (len(steps) - 2) + [0.5])
    ) / (len(steps) - 1)
    z = student - teacher
    reference = torch.einsum("nd,de,ne->n", z, kernel, z).mean()
    assert gfk_distance(student, teacher, subspace_dim=3).item() == pytest.approx(reference.item(), rel=1e-5)


def test_gfk_distance_is_zero_for_identical_features_with_zero_gradient():
    features = F.normalize(torch.randn(4, 32), dim=-1).requires_grad_(True)
    distance = gfk_distance(features, features.detach().clone(), subspace_dim=16)
    distance.backward()
    assert distance.item() == 0.0
    assert torch.equal(features.grad, torch.zeros_like(features))


def test_gfk_distance_is_positive_otherwise_and_finite_for_two_samples():
    generator = torch.Generator().manual_seed(0)
    student = F.normalize(torch.randn(2, 32, generator=generator), dim=-1).requires_grad_(True)
    teacher = F.normalize(torch.randn(2, 32, generator=generator), dim=-1)
    distance = gfk_distance(student, teacher, subspace_dim=128)
    distance.backward()
    assert distance.item() > 0 and torch.isfinite(student.grad).all()
    nearly = F.normalize(student.detach() + 1e-4 * torch.randn(2, 32, generator=generator), dim=-1)
    small = gfk_distance(student.detach(), nearly)
    assert 0 < small.item() < 1e-6 and torch.isfinite(small)


def test_gfk_distance_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        gfk_distance(torch.randn(3, 4), torch.randn(2, 4))


# ------------------------------------------------------------------------------- IMM


def test_mean_imm_alpha_one_is_new_and_zero_is_old():
    new, old = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.equal(mean_imm(new, old, alpha=1.0), new)
    assert torch.equal(mean_imm(new, old, alpha=0.0), old)
    assert torch.allclose(mean_imm(new, old, alpha=0.25), 0.25 * new + 0.75 * old)


def test_mode_imm_with_equal_fishers_is_mean_imm():
    new, old, fisher = torch.randn(5, 3), torch.randn(5, 3), torch.rand(5, 3)
    assert torch.allclose(mode_imm(new, old, fisher, fisher, alpha=0.5), mean_imm(new, old, alpha=0.5), atol=1e-6)
    assert torch.allclose(mode_imm(new, old, fisher, fisher, alpha=0.3), mean_imm(new, old, alpha=0.3), atol=1e-6)
    assert torch.allclose(mode_imm(new, old, fisher, 2 * fisher, alpha=1.0), new, atol=1e-6)
    assert torch.allclose(mode_imm(new, old, fisher, 2 * fisher, alpha=0.0), old, atol=1e-6)


def test_mode_imm_equals_hand_computation():
    # (0.5·3·2 + 0.5·1·0) / (0.5·3 + 0.5·1) = 1.5 where the new model is 3x as certain
    merged = mode_imm(torch.tensor([2.0, 2.0]), torch.tensor([0.0, 0.0]), torch.tensor([3.0, 0.0]),
                      torch.tensor([1.0, 0.0]), alpha=0.5, epsilon=1e-12)
    assert merged.tolist() == pytest.approx([1.5, 1.0])  # no information on either side: the mean


def test_empirical_fisher_is_the_mean_squared_batch_gradient_of_the_cross_entropy():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    batches = [(torch.randn(5, 3), torch.randint(0, 4, (5,))) for _ in range(2)]
    fisher = empirical_fisher(model, batches, dict(model.named_parameters()))
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for images, labels in batches:
        model.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        for name, param in model.named_parameters():
            expected[name] += param.grad ** 2 / 2
    for name in expected:
        assert torch.allclose(fisher[name], expected[name], atol=1e-7)


# ------------------------------------------------------------------------- rectifiers


def test_rectified_linear_equals_the_formula_and_its_folded_weight():
    base = torch.nn.Linear(3, 2)
    layer = RectifiedLinear(base, rank=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.down.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]))
        layer.scale.copy_(torch.tensor([2.0, -1.0]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    hand = (x @ base.weight.T + base.bias + x @ layer.down.T @ layer.up.T) * layer.scale
    assert torch.allclose(layer(x), hand, atol=1e-6)
    assert torch.allclose(F.linear(x, layer.weight, layer.bias), hand, atol=1e-6)


def test_rectified_linear_starts_as_its_base_layer():
    base = torch.nn.Linear(8, 5)
    layer = RectifiedLinear(base, rank=4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 8)
    assert torch.equal(layer(x), base(x))
    assert torch.equal(layer.weight, base.weight) and torch.equal(layer.bias, base.bias)
    assert layer.up.abs().max() > 0 and layer.up.abs().max() <= 0.5  # ±1/√r, nonzero so D can learn


@pytest.mark.parametrize("update, towers, count", [("whole", ("image", "text"), 12), ("image", ("image",), 6),
                                                    ("text", ("text",), 6)])
def test_rkr_surgery_keeps_the_outputs_and_trains_only_the_rectifiers(make_model, update, towers, count):
    model = make_model(update=update).eval()
    model.set_vocabulary(CLASS_NAMES)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        before = model(images)
    names = add_rectifiers(model.clip, towers, rank=4, seed=0)
    model.invalidate_prompt_cache()
    with torch.no_grad():
        after = model(images)
    assert len(names) == count  # out-projection, c_fc, c_proj in each of 2 blocks per tower
    assert all(n.rsplit(".", 1)[-1] in ("out_proj", "c_fc", "c_proj") for n in names)
    assert torch.allclose(before, after, atol=1e-6)
    trainable = {n.rsplit(".", 1)[-1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"up", "down", "scale"} and not model.logit_scale.requires_grad
    assert sum(p.requires_grad for p in model.parameters()) == 3 * count


def test_the_attention_out_projection_rectifier_acts_inside_multihead_attention(make_model):
    model = make_model(update="text")
    tokens = model.tokenizer(["a photo of a cat ."])
    with torch.no_grad():
        before = model.encode_text(tokens)
        add_rectifiers(model.clip, ["text"], rank=4)
        out_proj = model.clip.transformer.resblocks[0].attn.out_proj
        assert isinstance(out_proj, RectifiedLinear)
        out_proj.scale.mul_(2.0)  # only read through out_proj.weight/bias by F.multi_head_attention_forward
        assert not torch.allclose(model.encode_text(tokens), before, atol=1e-4)


def test_rkr_surgery_happens_once(make_model):
    model = make_model()
    add_rectifiers(model.clip, ["image"])
    assert len(rectifiers(model.clip)) == 6
    with pytest.raises(ValueError, match="already has rectifiers"):
        add_rectifiers(model.clip, ["image"])
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        add_rectifiers(make_model().clip, ["image"], rank=0)


# ------------------------------------------------------- GFK as GeoDL's authors compute it


def authors_kernel_by_hand(student: np.ndarray, teacher: np.ndarray, complement_dim: int) -> np.ndarray:
    """Each step of the authors' ``GFK_distill_normalise.py`` in numpy, float64."""
    dim = min(student.shape) - 2

    def subspace(x):
        samples = x.T - x.T.mean(axis=0, keepdims=True)  # [D, N], each sample centred over its features
        return np.linalg.svd(samples, full_matrices=False)[0][:, :dim]

    def newton_schulz_inverse(m):
        norm = np.sqrt((m ** 2).sum())
        half = 0.5 * (3 * np.eye(len(m)) - m / norm) / np.sqrt(norm)
        return half @ half

    source, target = subspace(student), subspace(teacher)
    complement = np.linalg.qr(source, mode="complete")[0][:, dim:dim + complement_dim]
    a, b = source.T @ target, complement.T @ target
    shared = (a.T @ a @ newton_schulz_inverse(b.T @ b) + b.T @ b @ newton_schulz_inverse(a.T @ a)) / 2
    v = np.linalg.svd(shared)[0]
    gamma = np.linalg.norm(a @ v, axis=0)
    v1, v2 = a @ v / gamma, -(b @ v) / np.linalg.norm(b @ v, axis=0)
    theta = np.arccos(np.clip(gamma, -1, 1))
    b1 = np.diag(0.5 * (1 + np.sin(2 * theta) / (2 * theta + 1e-12)))
    b2 = np.diag(0.5 * (np.cos(2 * theta) - 1) / (2 * theta + 1e-12))
    b4 = np.diag(0.5 * (1 - np.sin(2 * theta) / (2 * theta + 1e-12)))
    delta1 = np.zeros((dim + complement.shape[1], 2 * dim))
    delta1[:dim, :dim], delta1[dim:, dim:] = v1, v2
    delta = delta1 @ np.block([[b1, b2], [b2, b4]]) @ delta1.T
    basis = np.hstack([source, complement])
    return basis @ delta @ basis.T


def test_newton_schulz_inverse_is_one_step_of_the_iteration():
    m = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    norm = math.sqrt(5)
    hand = [(3 - 1 / norm) ** 2 / (4 * norm), (3 - 2 / norm) ** 2 / (4 * norm)]
    assert torch.allclose(newton_schulz_inverse(m), torch.diag(torch.tensor(hand, dtype=torch.float64)))


def test_authors_gfk_distance_equals_their_steps_by_hand():
    # the whole complement (D − d = 5 columns), so that it spans one subspace whatever QR returns
    generator = torch.Generator().manual_seed(0)
    student = F.normalize(torch.randn(5, 8, generator=generator, dtype=torch.float64), dim=-1)
    teacher = F.normalize(student + 0.3 * torch.randn(5, 8, generator=generator, dtype=torch.float64), dim=-1)
    kernel = authors_kernel_by_hand(student.numpy(), teacher.numpy(), complement_dim=5)
    z = (student - teacher).numpy()
    hand = np.einsum("nd,de,ne->n", z, kernel, z).mean()
    assert torch.allclose(authors_gfk_kernel(student, teacher, complement_dim=5),
                          torch.from_numpy(kernel), atol=1e-10)
    assert authors_gfk_distance(student, teacher, complement_dim=5).item() == pytest.approx(hand, rel=1e-5)
    assert authors_gfk_distance(student, teacher).item() != pytest.approx(
        gfk_distance(student, teacher, subspace_dim=3).item(), rel=1e-3)  # another computation


def test_authors_complement_keeps_only_its_first_columns():
    basis = torch.linalg.qr(torch.randn(70, 3, dtype=torch.float64))[0]
    complement = orthogonal_complement(basis, 60)
    assert complement.shape == (70, 60)
    assert torch.allclose(complement.T @ complement, torch.eye(60, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(basis.T @ complement, torch.zeros(3, 60, dtype=torch.float64), atol=1e-12)


def test_authors_gfk_distance_is_zero_for_identical_features_and_for_fewer_than_three():
    features = F.normalize(torch.randn(6, 16), dim=-1).requires_grad_(True)
    distance = authors_gfk_distance(features, features.detach().clone())
    distance.backward()
    assert distance.item() == 0.0 and torch.equal(features.grad, torch.zeros_like(features))
    assert authors_gfk_distance(torch.randn(2, 16), torch.randn(2, 16)).item() == 0.0
