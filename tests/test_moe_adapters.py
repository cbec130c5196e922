"""MoE-Adapters: the routing math by hand, the frozen-CLIP invariants, the schedule, the runs."""

import json

import pytest
import torch
from avalanche.training.plugins import EWCPlugin
from torch import nn

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark
from avalanche_clip.cli import run_command
from avalanche_clip.models.mixture_of_experts import (
    SharedRouter,
    add_moe_adapters,
    gate_logits,
    mix_experts,
    moe_tower,
    reconstruction_errors,
    select_tasks,
    top_k_gates,
)
from avalanche_clip.models.text_encoding import normalized
from avalanche_clip.training import CLIPStrategy, MoEAdaptersPlugin, RKRPlugin
from avalanche_clip.training.plugins.moe_adapters import experts_to_freeze, train_autoencoder
from conftest import CLASS_NAMES

SMALL_WORLD = ["--data.train_per_class=2", "--data.test_per_class=1", "--data.zeroshot_per_class=1",
               "--data.retrieval_size=6"]


def stream(generated):
    train, test = generated
    return ost_benchmark(train, test, CLASS_NAMES)


def eval_logits(model, images):
    model.eval()
    with torch.no_grad():
        return model(images)


def perturb_experts(model, seed=0):
    """Give every expert a nonzero up-projection, so that an adapted path differs from CLIP."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in moe_tower(model.clip).adapted_layers():
            for expert in layer.experts:
                expert.up.weight.copy_(torch.randn(expert.up.weight.shape, generator=generator))
            for router in layer.routers:
                router.copy_(torch.randn(router.shape, generator=generator))


# ------------------------------------------------------------------------------ the math


def test_top_k_gates_are_the_softmax_of_the_k_largest_logits():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]])
    e = torch.exp
    expected = torch.tensor([[0, e(torch.tensor(3.0)) / (e(torch.tensor(3.0)) + e(torch.tensor(2.0))),
                              e(torch.tensor(2.0)) / (e(torch.tensor(3.0)) + e(torch.tensor(2.0)))],
                             [e(torch.tensor(0.5)) / (e(torch.tensor(0.5)) + e(torch.tensor(4.0))), 0,
                              e(torch.tensor(4.0)) / (e(torch.tensor(0.5)) + e(torch.tensor(4.0)))]])
    torch.testing.assert_close(top_k_gates(logits, 2), expected)


def test_noisy_gate_logits_scale_the_noise_by_softplus_plus_epsilon():
    x = torch.tensor([[1.0, 2.0]])
    router = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    noise_router = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    noise = torch.tensor([[2.0, -1.0]])
    softplus = torch.log1p(torch.exp(torch.tensor([0.0, 1.0])))
    expected = torch.tensor([[1.0, 2.0]]) + noise * (softplus + 1e-2)
    torch.testing.assert_close(gate_logits(x, router, noise_router, noise), expected)
    assert torch.equal(gate_logits(x, router, noise_router, None), torch.tensor([[1.0, 2.0]]))


def test_mix_experts_equals_the_dense_gated_sum():
    experts = [nn.Linear(3, 3) for _ in range(4)]
    h = torch.randn(2, 5, 3)
    gates = torch.tensor([[0.25, 0.0, 0.75, 0.0], [0.0, 0.0, 0.0, 0.0]])
    expected = torch.stack([0.25 * experts[0](h[0]) + 0.75 * experts[2](h[0]), torch.zeros(5, 3)])
    torch.testing.assert_close(mix_experts(h, gates, experts), expected)


def test_ddas_routes_to_the_best_learned_task_under_the_threshold():
    errors = torch.tensor([[0.1, 0.3], [0.5, 0.4], [0.2, 0.05]])
    assert select_tasks(errors, torch.tensor([True, True]), 0.25).tolist() == [0, -1, 1]
    assert select_tasks(errors, torch.tensor([True, False]), 0.25).tolist() == [0, -1, 0]
    assert select_tasks(errors, torch.tensor([False, False]), 10.0).tolist() == [-1, -1, -1]


def test_reconstruction_errors_are_squared_distances():
    features = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    zero, identity = nn.Linear(2, 2), nn.Identity()
    nn.init.zeros_(zero.weight), nn.init.zeros_(zero.bias)
    assert torch.equal(reconstruction_errors(features, [zero, identity]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))


def test_an_autoencoder_learns_to_reconstruct_its_features():
    features = torch.nn.functional.normalize(torch.randn(64, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    autoencoder = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    before = reconstruction_errors(features, [autoencoder]).mean()
    train_autoencoder(autoencoder, features, steps=300, batch_size=16, lr=1e-2, generator=torch.Generator())
    assert reconstruction_errors(features, [autoencoder]).mean() < 0.5 * before
    assert not any(p.requires_grad for p in autoencoder.parameters())


def test_the_most_chosen_experts_are_frozen_never_an_unchosen_one():
    assert experts_to_freeze(torch.tensor([5.0, 0.0, 7.0, 3.0]), 2).tolist() == [2, 0]
    assert experts_to_freeze(torch.tensor([0.0, 0.0, 1.0, 0.0]), 2).tolist() == [2]


# ------------------------------------------------------------------------- the invariants


def test_before_training_the_model_is_clip_exactly_on_every_path(make_model, generated):
    model = make_model()
    model.set_vocabulary(CLASS_NAMES)
    images = generated[1].images[:8]
    original = eval_logits(model, images)
    model.train()  # another attention kernel than eval's
    with torch.no_grad():
        original_train = model(images)
    MoEAdaptersPlugin().prepare(model)
    assert torch.equal(eval_logits(model, images), original)
    tower = moe_tower(model.clip)
    tower.selector.learned[0] = True
    tower.selector.threshold = float("inf")  # every image takes task 0's (untrained) experts
    assert torch.equal(eval_logits(model, images), original)
    model.train()
    tower.train_task = 0
    with torch.no_grad():
        assert torch.equal(model(images), original_train)


def test_an_input_routed_to_the_frozen_path_gets_the_frozen_clips_logits(make_model, generated):
    model = make_model()
    model.set_vocabulary(CLASS_NAMES)
    images = generated[1].images[:8]
    original = eval_logits(model, images)
    MoEAdaptersPlugin().prepare(model)
    perturb_experts(model)
    tower = moe_tower(model.clip)
    assert torch.equal(eval_logits(model, images), original)  # no task learned: all frozen
    tower.selector.learned[0] = True
    tower.selector.threshold = float("inf")
    adapted = eval_logits(model, images)
    assert not torch.allclose(adapted, original)
    errors = reconstruction_errors(torch.nn.functional.normalize(tower.routed(images, None), dim=1),
                                   tower.selector.autoencoders[:1])[:, 0]
    tower.selector.threshold = float(errors.median())  # half the images are recognised, half not
    mixed = eval_logits(model, images)
    recognised = errors <= tower.selector.threshold
    assert 0 < int(recognised.sum()) < len(images)
    assert torch.equal(mixed[~recognised], original[~recognised])
    torch.testing.assert_close(mixed[recognised], adapted[recognised])


def test_only_the_tasks_router_and_unfrozen_experts_train_and_the_optimizer_holds_only_them(make_model, generated):
    model = make_model()
    base = {n: p.detach().clone() for n, p in model.clip.named_parameters()}
    plugin = MoEAdaptersPlugin(num_experts=4, max_tasks=3, selector_steps=5)
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[plugin], evaluator=None)
    benchmark = stream(generated)
    strategy.train(benchmark.train_stream[0])
    tower = moe_tower(model.clip)
    held = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in held}
    assert names and all(".experts." in n or n.endswith("routers.0") for n in names), sorted(names)[:5]
    assert not any(".selector." in n for n in names)
    assert all(id(p) not in strategy.optimizer.state for n, p in model.clip.named_parameters() if n in base)
    for name, param in model.clip.named_parameters():
        original = name.replace("visual.tower.", "visual.").replace(".mlp.base.", ".mlp.")
        if original in base:
            assert param.grad is None and torch.equal(param, base[original]), name
    assert not any(p.requires_grad for p in model.parameters())  # all frozen between tasks
    assert bool(tower.selector.learned[0]) and not bool(tower.selector.learned[1])
    for layer in tower.adapted_layers():
        assert 1 <= int(layer.frozen.sum()) <= 2 and not layer.activations.any()


def test_frozen_experts_stay_while_the_next_task_trains(make_model, generated):
    model = make_model()
    plugin = MoEAdaptersPlugin(num_experts=4, max_tasks=3, selector_steps=5)
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[plugin], evaluator=None)
    train, test = generated
    benchmark = ost_benchmark(train, test, CLASS_NAMES)
    strategy.train(benchmark.train_stream[0])
    layers = moe_tower(model.clip).adapted_layers()
    frozen = [{n: p.detach().clone() for n, p in layer.experts.named_parameters()
               if layer.frozen[int(n.split(".")[0])]} for layer in layers]
    router0 = [layer.routers[0].detach().clone() for layer in layers]
    strategy.experience = None
    experience = benchmark.train_stream[0]
    experience.current_experience = 1  # the same data as a second task
    strategy.train(experience)
    for layer, kept, router in zip(layers, frozen, router0):
        params = dict(layer.experts.named_parameters())
        assert all(torch.equal(params[n], value) for n, value in kept.items())
        assert torch.equal(layer.routers[0], router) and layer.routers[1].abs().sum() > 0
    assert moe_tower(model.clip).selector.learned[:2].tolist() == [True, True]


def test_the_state_round_trips_into_a_fresh_model_through_prepare(make_model, generated):
    model = make_model()
    plugin = MoEAdaptersPlugin(num_experts=4, max_tasks=2, selector_steps=5, threshold=10.0)
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[plugin], evaluator=None)
    strategy.train(stream(generated).train_stream[0])
    model.set_vocabulary(CLASS_NAMES)
    images = generated[1].images[:8]
    fresh = make_model()
    MoEAdaptersPlugin(num_experts=4, max_tasks=2, threshold=10.0).prepare(fresh)
    fresh.load_state_dict(model.state_dict())
    fresh.set_vocabulary(CLASS_NAMES)
    assert torch.equal(eval_logits(fresh, images), eval_logits(model, images))
    with pytest.raises(ValueError, match=r"\(num_experts, routers, top_k, shared\) = \(4, 2, 2, False\), "
                                         r"not \(22, 11, 2, False\)"):
        MoEAdaptersPlugin().prepare(fresh)
    with pytest.raises(ValueError, match=r"= \(4, 2, 2, False\), not \(4, 1, 2, True\)"):
        MoEAdaptersPlugin(num_experts=4, routing="shared").prepare(fresh)


def test_shared_routing_trains_one_router_and_every_expert_in_every_session_and_routes_every_image(
        make_model, generated):
    model = make_model()
    model.set_vocabulary(CLASS_NAMES)
    images = generated[1].images[:8]
    original = eval_logits(model, images)
    plugin = MoEAdaptersPlugin(num_experts=2, routing="shared")
    assert plugin.label == "MoE-Adapters-shared"
    plugin.prepare(model)
    tower = moe_tower(model.clip)
    assert isinstance(tower.selector, SharedRouter)
    assert torch.equal(eval_logits(model, images), original)  # nothing learned: the frozen CLIP
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[plugin], evaluator=None)
    layers = tower.adapted_layers()
    experts_before = None
    for session in mst_benchmark(*generated, CLASS_NAMES, n_sessions=2).train_stream:
        strategy.train(session)
        experts = [torch.cat([p.detach().flatten().clone() for p in layer.experts.parameters()]) for layer in layers]
        if experts_before is not None:  # the second session trained every expert again
            assert all(not torch.equal(a, b) for a, b in zip(experts, experts_before))
        experts_before = experts
    assert all(len(layer.routers) == 1 and not layer.frozen.any() and layer.routers[0].abs().sum() > 0
               for layer in layers)
    assert not any(p.requires_grad for p in model.parameters())
    model.set_vocabulary(CLASS_NAMES)
    adapted = eval_logits(model, images)
    assert not torch.allclose(adapted, original)
    every_image = torch.zeros(len(images), dtype=torch.long)  # router 0 for every image, by hand
    with torch.no_grad():
        features = normalized(tower.routed(images, every_image))
    torch.testing.assert_close(adapted, model.clip.logit_scale.exp() * features @ model.prompt_features().T)


# ---------------------------------------------------------------------------- refusals


def test_bad_arguments_and_combinations_are_refused(make_model, generated):
    with pytest.raises(ValueError, match="top_k must be at most num_experts=2, got 3"):
        MoEAdaptersPlugin(num_experts=2, top_k=3)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        MoEAdaptersPlugin(threshold=0.0)
    with pytest.raises(ValueError, match="routing='per_class' is not valid. Available: 'per_task', 'shared'"):
        MoEAdaptersPlugin(routing="per_class")
    with pytest.raises(ValueError, match="Without DDAS one router serves every task: num_tasks must be 1, got 3"):
        add_moe_adapters(make_model().clip, num_tasks=3, ddas=False)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        add_moe_adapters(make_model().clip, dropout=1.0)
    with pytest.raises(ValueError, match="TO variant"):
        MoEAdaptersPlugin().prepare(make_model(update="text"))
    model = make_model()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[MoEAdaptersPlugin(), RKRPlugin()], evaluator=None)
    with pytest.raises(ValueError, match="cannot be combined with RKRPlugin: both adapt the MLPs"):
        strategy.train(stream(generated).train_stream[0])
    model = make_model()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                            train_mb_size=10, plugins=[MoEAdaptersPlugin(), EWCPlugin(ewc_lambda=1.0)], evaluator=None)
    with pytest.raises(ValueError, match="cannot be combined with EWCPlugin: MoE-Adapters stops every parameter"):
        strategy.train(stream(generated).train_stream[0])
    rectified = make_model()
    RKRPlugin().prepare(rectified)
    with pytest.raises(ValueError, match="RKR rectifiers"):
        MoEAdaptersPlugin().prepare(rectified)
    strategy = CLIPStrategy(model=make_model(), optimizer=torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0),
                            train_mb_size=10, plugins=[MoEAdaptersPlugin(max_tasks=1)], evaluator=None)
    experience = stream(generated).train_stream[0]
    experience.current_experience = 1
    with pytest.raises(ValueError, match="max_tasks=1 experiences; experience 1 needs more"):
        strategy.train(experience)


# ------------------------------------------------------------------------ runs on the world


@pytest.mark.parametrize("protocol, routing", [("ost", "per_task"), ("mst", "per_task"), ("mst", "shared")])
def test_the_command_line_runs_it_on_the_world(protocol, routing, tmp_path):
    run_command(["--output_dir", str(tmp_path / "run"), "--protocol.name", protocol, "--protocol.n_sessions", "2",
                 "--training.epochs", "1", "--training.batch_size", "16", "--training.lr", "5e-3",
                 "--evaluation.tensorboard", "false", *SMALL_WORLD,
                 "--plugins+=MoEAdaptersPlugin", "--plugins.selector_steps", "20", "--plugins.max_tasks", "2",
                 "--plugins.routing", routing])
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    label = {"per_task": "MoE-Adapters", "shared": "MoE-Adapters-shared"}[routing]
    assert info["method"] == label and info["protocol"] == protocol.upper()
    assert results["experiences_completed"] == (1 if protocol == "ost" else 2)
