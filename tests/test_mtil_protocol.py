"""MTIL: the benchmark's orders and vocabularies, and whole runs through the runner (FT, LwF, resume)."""

import json
import logging

import pytest
import torch

from avalanche_clip.benchmarks import MTILTask, mtil_benchmark, task_order
from avalanche_clip.benchmarks.world import WorldDomains
from avalanche_clip.cli import run_command
from avalanche_clip.evaluation import mtil_average, mtil_last, mtil_transfer
from avalanche_clip.experiment import CheckpointSpec, EvaluationSpec, ProtocolSpec, TrainingSpec, run
from avalanche.training.plugins import LRSchedulerPlugin

from avalanche_clip.training import CLIPStrategy, LwFPlugin, MoEAdaptersPlugin, TaskLearningRates, WarmupCosineLR
from conftest import GeneratedImages
from mtil_stand_in import PseudoDomains

SMALL_WORLD_MTIL = ["--data.train_per_class", "2", "--data.test_per_class", "2", "--data.zeroshot_per_class", "1",
                    "--data.retrieval_size", "4", "--data.domains", "[world-faded-colours, world-sizes]",
                    "--training.epochs", "1", "--training.batch_size", "8", "--training.threads", "1",
                    "--evaluation.tensorboard", "false"]
"""Two small world domains, one epoch each: a whole MTIL run in seconds."""

ELEVEN = ("Aircraft", "Caltech101", "CIFAR100", "DTD", "EuroSAT", "Flowers", "Food", "MNIST", "OxfordPet",
          "StanfordCars", "SUN397")


def generated_task(name: str, classes: int, seed: int) -> MTILTask:
    names = tuple(f"{name} class {c}" for c in range(classes))
    return MTILTask(name, GeneratedImages(classes, 3, seed=seed), GeneratedImages(classes, 2, seed=seed + 1), names,
                    (f"a {name} photo of {{}}.", f"a {{}} in {name}."))


def test_named_orders_and_user_orders():
    assert task_order(ELEVEN, "I") == list(ELEVEN)
    assert task_order(ELEVEN, "II")[:3] == ["StanfordCars", "Food", "MNIST"] and task_order(ELEVEN, "II")[-1] == "CIFAR100"
    assert task_order(["a", "b", "c"], ["c", "a", "b"]) == ["c", "a", "b"]
    assert task_order(["a", "b"], None) == ["a", "b"]
    with pytest.raises(ValueError, match=r"order must be one of \['I', 'II'\].*'III'"):
        task_order(ELEVEN, "III")
    with pytest.raises(ValueError, match=r"not given\. Available: a, b"):
        task_order(["a", "b"], "I")
    with pytest.raises(ValueError, match=r"does not place tasks \['b'\]"):
        task_order(["a", "b"], ["a"])
    with pytest.raises(ValueError, match=r"\['a'\] more than once"):
        task_order(["a", "b"], ["a", "a", "b"])


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_each_task_trains_at_its_own_learning_rate_through_the_schedule(make_model, schedule):
    bench = mtil_benchmark([generated_task("first", 3, 0), generated_task("second", 2, 5), generated_task("third", 2, 9)])
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = WarmupCosineLR(optimizer, warmup=1, total=3) if schedule == "cosine" else None
    rates = TaskLearningRates({"second": 4e-3}, default=1e-3, task_names=["first", "second", "third"],
                              scheduler=scheduler)
    plugins = [LRSchedulerPlugin(scheduler, step_granularity="iteration"), rates] if scheduler else [rates]
    steps = []

    class StepSpy:
        def before_training_iteration(self, strategy, **kwargs):
            steps.append(strategy.optimizer.param_groups[0]["lr"])

    strategy = CLIPStrategy(model=model, optimizer=optimizer, train_mb_size=4, train_iterations=3,
                            plugins=[*plugins, StepSpy()], evaluator=None, precision="fp32")
    for experience in bench.train_stream:
        strategy.train(experience)
    factors = [1.0, 1.0, 0.5] if schedule == "cosine" else [1.0] * 3  # (i+1)/1, then (1 + cos(pi k/2))/2
    assert steps == pytest.approx([lr * f for lr in (1e-3, 4e-3, 1e-3) for f in factors], rel=1e-12)
    strategy.experience = bench.train_stream[1]
    for _ in range(2):  # the second time, as in a resumed run, the task's rates are already in place
        rates.before_training_exp(strategy)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(4e-3 * factors[0], rel=1e-12)


def test_a_run_with_task_learning_rates_records_them_and_checkpoints_without_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_command(["--config", "mtil", "--output_dir", str(tmp_path), *SMALL_WORLD_MTIL,
                     "--training.task_lr", "{world-sizes: 3.0e-4}"])
    assert "cannot save" not in caplog.text
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["config"]["training"]["task_lr"] == {"world-sizes": 3.0e-4}


def test_task_learning_rates_refuse_unknown_tasks_and_protocols_without_tasks(tmp_path):
    with pytest.raises(ValueError, match=r"names tasks \['Aircarft'\] that the stream does not have\. "
                                         r"Its tasks: Aircraft, MNIST"):
        TaskLearningRates({"Aircarft": 5e-5}, default=1e-5, task_names=["Aircraft", "MNIST"])
    with pytest.raises(ValueError, match=r"training.task_lr\['MNIST'\] must be a finite number > 0, got -1"):
        TrainingSpec(task_lr={"MNIST": -1.0})
    with pytest.raises(ValueError, match="protocol.name='mst' has no named tasks"):
        run(output_dir=str(tmp_path), training=TrainingSpec(task_lr={"MNIST": 5e-5}))
    with pytest.raises(ValueError, match=r"\['world-size'\] that the stream does not have"):
        run(output_dir=str(tmp_path), protocol=ProtocolSpec(name="mtil"), data=WorldDomains(),
            training=TrainingSpec(task_lr={"world-size": 5e-5}))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # refused before the run directory is made


def test_each_experience_is_one_dataset_scored_among_its_own_classes(make_model):
    tasks = [generated_task("first", 3, 0), generated_task("second", 2, 5)]
    bench = mtil_benchmark(tasks, order=["second", "first"])
    assert [e.task_name for e in bench.train_stream] == [e.task_name for e in bench.test_stream] == ["second", "first"]
    assert [e.current_experience for e in bench.test_stream] == [0, 1]
    second, first = bench.test_stream
    assert first.class_names == tasks[0].class_names and first.prompt_templates == tasks[0].templates
    assert second.classes_in_this_experience == [0, 1] and first.previous_classes == [] == first.future_classes
    assert len(first.dataset) == 6 and sorted(set(first.dataset.targets)) == [0, 1, 2]

    model = make_model(update="image")
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), train_mb_size=4,
                            plugins=[LwFPlugin()], evaluator=None, precision="fp32")
    strategy.train(bench.train_stream[0])
    assert model.seen_classes == [0, 1]
    strategy.train(bench.train_stream[1])  # a new vocabulary: the ids of "second" name nothing here
    assert model.seen_classes == [0, 1, 2] and model.class_names == tasks[0].class_names
    model.eval()
    for experience, classes in zip(bench.test_stream, (2, 3)):
        model.adaptation(experience)
        assert model(experience.dataset[0][0][None]).shape == (1, classes)


def test_bad_tasks_are_refused():
    task = generated_task("a", 2, 0)
    with pytest.raises(ValueError, match=r"distinct, got \['a'\]"):
        mtil_benchmark([task, task])
    with pytest.raises(TypeError, match="MTILTask objects"):
        mtil_benchmark([task, "b"])
    with pytest.raises(ValueError, match="without '/'"):
        mtil_benchmark([MTILTask("a/b", task.train, task.test, task.class_names, task.templates)])
    with pytest.raises(ValueError, match="task_order is given .* protocol.name='mst'"):
        ProtocolSpec(name="mst", task_order="I")
    with pytest.raises(TypeError, match="needs an MTIL data source"):
        run(output_dir="unused", protocol=ProtocolSpec(name="mtil"))
    with pytest.raises(ValueError, match="use it with protocol.name='mtil'"):
        run(output_dir="unused", data=PseudoDomains(), protocol=ProtocolSpec(name="ost"))


def mtil_run(output_dir, **kwargs):
    args = dict(output_dir=str(output_dir), seed=1, data=PseudoDomains(),
                protocol=ProtocolSpec(name="mtil", task_order=("crops-a", "colours", "crops-b")),
                training=TrainingSpec(epochs=2, batch_size=4, lr=1e-3, threads=1),
                evaluation=EvaluationSpec(batch_size=16, tensorboard=False),
                checkpoint=CheckpointSpec(every_iterations=4))
    return run(**(args | kwargs))


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mtil") / "ft"
    return mtil_run(directory), directory


def check_scores(stream):
    """The reported scores equal ZSCL's functions on the reported matrix."""
    matrix = torch.tensor(stream["after"], dtype=torch.float64)
    assert stream["transfer"]["mean"] == pytest.approx(mtil_transfer(matrix).mean().item())
    assert stream["avg"]["mean"] == pytest.approx(mtil_average(matrix).mean().item())
    assert list(stream["last"]["per_dataset"].values()) == pytest.approx(mtil_last(matrix).tolist())
    assert stream["transfer"]["per_dataset"]["crops-b"] == pytest.approx((matrix[0, 2] + matrix[1, 2]).item() / 2)


def test_an_ft_run_writes_the_matrix_the_scores_and_the_report(finetuned):
    results, directory = finetuned
    stream = results["mtil"]["test_stream"]
    assert stream["datasets"] == ["crops-a", "colours", "crops-b"] and len(stream["after"]) == 3
    assert all(0 <= v <= 1 for row in [stream["original"], *stream["after"]] for v in row)
    check_scores(stream)
    assert json.loads((directory / "run.json").read_text())["protocol"] == "MTIL"
    assert "ZS-Acc" in results["table"] and "UT-Acc" not in results["table"]  # capabilities beside, no UT-Acc
    names = (directory / "metrics.csv").read_text()
    assert "MTIL_Acc/eval_phase/test_stream/colours" in names and "UT_Acc" not in names
    report = (directory / "report" / "results.md").read_text()
    assert "## MTIL: Transfer / Avg / Last" in report and "| FT | WM | 1 |" in report
    assert "| After colours |" in report and (directory / "report" / "mtil_matrix.png").stat().st_size > 10_000


def test_an_lwf_run_distils_over_each_datasets_own_classes(tmp_path):
    results = mtil_run(tmp_path / "lwf", plugins=[LwFPlugin()], checkpoint=CheckpointSpec(enabled=False))
    check_scores(results["mtil"]["test_stream"])
    info = json.loads((tmp_path / "lwf" / "run.json").read_text())
    assert info["method"] == "LwF"


def stop_at_step(monkeypatch, run_stopped, at: int) -> None:
    """Run ``run_stopped()`` until its optimizer step ``at`` (1-based) raises KeyboardInterrupt."""
    step, steps = CLIPStrategy.optimizer_step, []

    def step_then_stop(self):
        steps.append(1)
        if len(steps) == at:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(CLIPStrategy, "optimizer_step", step_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_stopped()
    monkeypatch.setattr(CLIPStrategy, "optimizer_step", step)


def test_a_run_stopped_mid_task_resumes_to_the_uninterrupted_results(finetuned, tmp_path, monkeypatch):
    # task 1 (6 steps a task), after the checkpoint of iteration 8
    stop_at_step(monkeypatch, lambda: mtil_run(tmp_path / "stopped"), at=11)
    assert json.loads((tmp_path / "stopped" / "results.json").read_text())["experiences_completed"] == 1
    results = mtil_run(tmp_path / "stopped", resume=True)
    assert results == finetuned[0]
    assert (tmp_path / "stopped" / "metrics.csv").read_text() == (finetuned[1] / "metrics.csv").read_text()


def test_a_run_with_task_learning_rates_resumes_mid_task_to_the_uninterrupted_results(tmp_path, monkeypatch):
    training = TrainingSpec(iterations=6, lr_schedule="cosine", warmup_iterations=2, batch_size=4, lr=1e-3,
                            threads=1, task_lr={"colours": 3e-3})
    uninterrupted = mtil_run(tmp_path / "whole", training=training)
    # task 1, colours, at its own rate: stopped after the checkpoint of iteration 8
    stop_at_step(monkeypatch, lambda: mtil_run(tmp_path / "stopped", training=training), at=11)
    assert mtil_run(tmp_path / "stopped", training=training, resume=True) == uninterrupted
    assert (tmp_path / "stopped" / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()


def test_shared_moe_adapters_resume_mid_task_to_the_uninterrupted_results(tmp_path, monkeypatch):
    def shared_moe_run(output_dir, **kwargs):
        return mtil_run(output_dir, plugins=[MoEAdaptersPlugin(routing="shared", num_experts=2)],
                        training=TrainingSpec(epochs=2, batch_size=4, lr=3e-2, threads=1), **kwargs)

    uninterrupted = shared_moe_run(tmp_path / "whole")
    stream = uninterrupted["mtil"]["test_stream"]
    assert stream["after"][-1] != stream["original"]  # the adapters learned
    stop_at_step(monkeypatch, lambda: shared_moe_run(tmp_path / "stopped"), at=11)  # in task 1, after iteration 8
    assert shared_moe_run(tmp_path / "stopped", resume=True) == uninterrupted
    assert (tmp_path / "stopped" / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()


@pytest.mark.parametrize("plugin, options, label", [
    ("WiSEFTPlugin", ["--plugins.alpha", "0.5"], "WiSE-FT"),
    ("ZSCLPlugin", ["--plugins.we_every", "2", "--plugins.max_reference_images", "16"], "ZSCL"),
    ("MoEAdaptersPlugin", ["--plugins.selector_steps", "20", "--plugins.max_tasks", "2"], "MoE-Adapters"),
])
def test_each_new_method_runs_on_the_worlds_mtil_from_the_command_line(plugin, options, label, tmp_path):
    results = run_command(["--config", "mtil", "--output_dir", str(tmp_path), *SMALL_WORLD_MTIL,
                           "--checkpoint.enabled", "false", f"--plugins+={plugin}", *options])
    info = json.loads((tmp_path / "run.json").read_text())
    assert (info["method"], info["protocol"]) == (label, "MTIL")
    stream = results["mtil"]["test_stream"]
    assert stream["datasets"] == ["world-faded-colours", "world-sizes"] and len(stream["after"]) == 2
    after = torch.tensor(stream["after"], dtype=torch.float64)  # Transfer: sizes before it is learned
    assert (stream["transfer"]["mean"], stream["last"]["mean"]) == pytest.approx((after[0, 1].item(), after[1].mean().item()))
