"""The MethodPlugin protocol: a user's own method takes part in runs, reports and resume by following it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import torch

from avalanche_clip.benchmarks import PaperData
from avalanche_clip.checkpointing import STATE_FORMAT, CheckpointFiles
from avalanche_clip.experiment import CheckpointSpec, EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec, run
from avalanche_clip.training import MethodPlugin, derive_seed

if TYPE_CHECKING:
    from avalanche_clip.training import CLIPStrategy


class Damped(MethodPlugin):
    """A user's method: scales the loss by a random factor per step, from its own seeded generator."""

    label = "Damped"

    def __init__(self, *, seed: int | None = None):
        super().__init__()
        self.generator = torch.Generator()
        self.set_seed(seed)
        self.steps = 0
        self.prepared = 0
        self.loaded: dict | None = None

    def set_seed(self, seed: int | None) -> None:
        self.seed = seed
        self.generator.manual_seed(0 if seed is None else seed)

    def prepare(self, model) -> None:
        self.prepared += 1

    def before_backward(self, strategy: CLIPStrategy, **kwargs):
        strategy.loss = strategy.loss * (0.5 + torch.rand((), generator=self.generator))
        self.steps += 1

    def state_dict(self) -> dict:
        return {"steps": self.steps, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state
        self.steps = state["steps"]
        self.generator.set_state(state["generator"])


def damped_run(paper_files, run_dir, plugin, **kwargs):
    return run(output_dir=str(run_dir), seed=3, model=ModelSpec(name="tiny-clip", update="image"),
               data=PaperData(**paper_files), protocol=ProtocolSpec(name="mst", n_sessions=2),
               plugins=[plugin], training=TrainingSpec(epochs=2, batch_size=2, lr=1e-4, threads=1),
               evaluation=EvaluationSpec(batch_size=8, tensorboard=False),
               checkpoint=CheckpointSpec(every_iterations=1, keep=20), **kwargs)


def test_the_defaults_are_a_method_without_randomness_surgery_or_state(make_model):
    plugin = MethodPlugin()
    model = make_model()
    before = {n: p.clone() for n, p in model.state_dict().items() if isinstance(p, torch.Tensor)}
    plugin.set_seed(5)
    plugin.prepare(model)
    assert (plugin.label, plugin.seed, plugin.state_dict()) == ("Method", None, {})
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items() if n in before)


def test_a_users_method_takes_part_in_the_run_its_report_and_its_resume(paper_files, tmp_path):
    plugin = Damped()
    results = damped_run(paper_files, tmp_path / "run", plugin)
    assert plugin.seed == derive_seed(3, "plugin", 0, "Damped")  # seeded from the run's seed
    assert json.loads((tmp_path / "run" / "run.json").read_text())["method"] == "Damped"
    assert "| Damped |" in (tmp_path / "run" / "report" / "results.md").read_text()
    files = CheckpointFiles(tmp_path / "run" / "checkpoints")
    states = {n: torch.load(files.path(n), weights_only=True) for n in files.numbers()}
    (entry,) = states[max(states)]["plugins"]
    assert entry["type"] == "Damped" and entry["state"]["steps"] == plugin.steps > 0

    # keep only the checkpoints up to one inside the second session: the run resumes there
    inside = min(n for n, s in states.items() if s["strategy"]["experiences_completed"] == 1
                 and s["strategy"]["position"] is not None)
    for number in files.numbers():
        if number > inside:
            files.path(number).unlink()
    resumed = Damped()
    assert damped_run(paper_files, tmp_path / "run", resumed, resume=True) == results
    assert resumed.prepared == 1 and resumed.loaded["steps"] == states[inside]["plugins"][0]["state"]["steps"]
    assert resumed.steps == plugin.steps and torch.equal(resumed.generator.get_state(), plugin.generator.get_state())


def test_a_checkpoint_of_another_format_is_refused_before_anything_is_built(paper_files, tmp_path):
    CheckpointFiles(tmp_path / "run" / "checkpoints").save({"format": 1, "position": None})
    (tmp_path / "run" / "results.json").write_text("{}")
    with pytest.raises(ValueError, match=rf"ckpt-000001.pt has format 1; .* reads format {STATE_FORMAT} only"):
        damped_run(paper_files, tmp_path / "run", Damped(), resume=True)
    assert (tmp_path / "run" / "results.json").read_text() == "{}"  # nothing was touched
