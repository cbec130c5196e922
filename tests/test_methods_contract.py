"""The contract every exported method plugin keeps: constructor, state_dict, resumption, composition."""

import inspect

import pytest
import torch
from avalanche.training.plugins import EWCPlugin, LRSchedulerPlugin, ReplayPlugin

import avalanche_clip.training as training
from avalanche_clip.training import CLIPStrategy, IMMPlugin, LwFPlugin
from test_methods_plugins import images_of, perturb, plugin_term, start_session, streams

METHODS = [getattr(training, name) for name in training.__all__
           if name.endswith("Plugin") and getattr(training, name) is not training.MethodPlugin]
DISTILLATION = [m for m in METHODS if issubclass(m, training.plugins.TeacherPlugin)]


def flatten(state, prefix=""):
    """Leaves of a nested state dict, by dotted path."""
    if isinstance(state, dict):
        return {k: v for key, value in state.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix: state}


def assert_same_state(a, b):
    a, b = flatten(a), flatten(b)
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_the_inventory_is_the_eight_methods():
    assert {m.__name__ for m in METHODS} == {"LwFPlugin", "VRLwFPlugin", "GeoDLPlugin", "IMMPlugin", "RKRPlugin",
                                             "WiSEFTPlugin", "ZSCLPlugin", "MoEAdaptersPlugin"}
    assert {m.__name__ for m in DISTILLATION} == {"LwFPlugin", "VRLwFPlugin", "GeoDLPlugin"}
    assert all(issubclass(m, training.MethodPlugin) for m in METHODS)
    assert [m().label for m in METHODS] == [{"GeoDLPlugin": "GeoDL", "IMMPlugin": "IMM", "LwFPlugin": "LwF",
                                             "RKRPlugin": "RKR", "VRLwFPlugin": "VR-LwF", "WiSEFTPlugin": "WiSE-FT",
                                             "ZSCLPlugin": "ZSCL", "MoEAdaptersPlugin": "MoE-Adapters"}[m.__name__]
                                            for m in METHODS]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_constructor_is_keyword_only_typed_with_immutable_defaults(method):
    parameters = list(inspect.signature(method.__init__).parameters.values())[1:]
    assert parameters, method
    for parameter in parameters:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, parameter
        assert parameter.annotation is not inspect.Parameter.empty, parameter
        assert isinstance(parameter.default, (int, float, str, bool, type(None))), parameter
    assert method.__doc__.split("\n")[0].strip() and "Args:" in method.__doc__


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_state_dict_round_trips_in_the_middle_of_a_session(make_model, generated, method):
    captured = []

    class Capture:
        def after_training_iteration(self, strategy, **kwargs):
            if strategy.clock.train_exp_iterations == 1:  # after the first step
                captured.append(plugin.state_dict())

    model = make_model()
    plugin = method()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                            train_mb_size=10, plugins=[plugin, Capture()], evaluator=None)
    strategy.train(streams(generated).train_stream[0])
    (state,) = captured
    assert all(v.device.type == "cpu" for v in flatten(state).values() if isinstance(v, torch.Tensor))
    restored = method()
    restored.load_state_dict(state)
    assert_same_state(restored.state_dict(), state)


@pytest.mark.parametrize("method", DISTILLATION, ids=lambda m: m.__name__)
def test_a_restored_teacher_is_used_when_its_session_resumes(make_model, generated, method):
    model = make_model()
    benchmark = streams(generated)
    plugin = method()
    strategy = start_session(model, plugin, benchmark, 1, images_of())
    state = plugin.state_dict()
    perturb(model)  # the session went on
    expected = plugin_term(plugin, strategy)
    resumed = method()
    resumed.load_state_dict(state)
    assert plugin_term(resumed, start_session(model, resumed, benchmark, 1, images_of())) == expected
    assert expected > 0
    elsewhere = method()
    elsewhere.load_state_dict(state)  # another session: a fresh snapshot of the model as it is
    assert plugin_term(elsewhere, start_session(model, elsewhere, benchmark, 2, images_of())) == 0


def test_imm_restored_in_the_middle_of_a_session_merges_with_the_session_start(make_model, generated):
    model = make_model(update="image")
    benchmark = streams(generated)
    plugin = IMMPlugin()
    start_session(model, plugin, benchmark, 0, images_of())
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    state = plugin.state_dict()
    perturb(model)
    resumed = IMMPlugin()
    resumed.load_state_dict(state)
    strategy = start_session(model, resumed, benchmark, 0, images_of())
    perturb(model, seed=1)
    new = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    resumed.after_training_exp(strategy)
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert torch.equal(param, 0.5 * new[name] + 0.5 * start[name]), name


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_composes_with_another_method_and_avalanche_ewc_replay_and_lr_scheduler(make_model, generated, method):
    model = make_model(train_mask="seen")  # replayed samples of earlier sessions keep their logits
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    partner = LwFPlugin() if method is IMMPlugin else IMMPlugin()
    replay = ReplayPlugin(mem_size=12)
    losses, trained = [], set()

    class LossSpy:
        def after_backward(self, strategy, **kwargs):
            losses.append(strategy.loss.item())
            trained.clear()  # what trains in the last step (MoE-Adapters freezes a task's parameters at its end)
            trained.update(id(p) for p in model.parameters() if p.requires_grad)

    # MoE-Adapters refuses EWC (tests/test_moe_adapters.py): its parameters are frozen when a task ends
    importance = [] if method is training.MoEAdaptersPlugin else [EWCPlugin(ewc_lambda=1.0)]
    plugins = [method(), partner, *importance, replay,
               LRSchedulerPlugin(torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)), LossSpy()]
    strategy = CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=10, plugins=plugins, evaluator=None)
    benchmark = streams(generated)
    for experience in benchmark.train_stream[:2]:
        strategy.train(experience)
    strategy.eval(benchmark.test_stream)
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    assert len(replay.storage_policy.buffer) == 12
    held = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
    assert held == trained
