"""The results files: what a killed run leaves, the results table, resuming, and the values the
stock TextLogger and TensorboardLogger receive."""

import os

import pytest
import torch
from avalanche.core import SupervisedPlugin
from avalanche.evaluation.metric_results import MetricValue
from avalanche.logging import TensorboardLogger, TextLogger
from avalanche.training.plugins import EvaluationPlugin
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from avalanche_clip.benchmarks import mst_benchmark
from avalanche_clip.evaluation import retrieval_metrics, updated_task_metrics, zeroshot_metrics
from avalanche_clip.results import (
    MetricRow,
    ResultsLogger,
    RunInfo,
    read_metric_rows,
    read_results,
    read_run_info,
    summarize,
)
from avalanche_clip.results.run_files import write_metric_rows
from avalanche_clip.training import CLIPStrategy
from conftest import CLASS_NAMES


class KillInThirdExperience(SupervisedPlugin):
    """Raises at the first training step of the third experience, like a crash."""

    def before_training_iteration(self, strategy, **kwargs):
        if strategy.clock.train_exp_counter == 2:
            raise RuntimeError("killed")


def test_a_run_killed_in_its_third_experience_keeps_every_value_of_the_first_two(
        make_model, generated, zeroshot_set, retrieval_set, tmp_path):
    run_dir, text_log = tmp_path / "run", open(tmp_path / "log.txt", "w")
    tensorboard = TensorboardLogger(tb_log_dir=str(tmp_path / "tb"))
    info = RunInfo(method="FT", variant="whole", protocol="mst", seed=0)
    evaluator = EvaluationPlugin(
        zeroshot_metrics({"zs": zeroshot_set}, top_k=(1, 2)),
        retrieval_metrics({"ret": retrieval_set}, ks=(1, 5), folds={"ret": 2}),
        updated_task_metrics(),
        loggers=[ResultsLogger(run_dir, run_info=info), TextLogger(text_log), tensorboard],
    )
    model = make_model()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), train_mb_size=20,
                            plugins=[KillInThirdExperience()], evaluator=evaluator)
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=3)
    strategy.eval(benchmark.test_stream)  # the original model's UT-Acc
    with pytest.raises(RuntimeError, match="killed"):
        for experience in benchmark.train_stream:
            strategy.train(experience)
            strategy.eval(benchmark.test_stream)
    text_log.close()
    tensorboard.writer.flush()

    collected = evaluator.get_all_metrics()
    logged = {(name, x, v) for name, (xs, vs) in collected.items() for x, v in zip(xs, vs)}
    rows = read_metric_rows(run_dir / "metrics.csv")
    assert {(row.name, row.step, row.value) for row in rows} == logged  # every value, exactly
    assert {row.experience for row in rows} == {-1, 0, 1}
    assert read_run_info(run_dir) == RunInfo(method="FT", variant="WM", protocol="MST", seed=0)

    results = read_results(run_dir)
    assert results["experiences_completed"] == 2
    zs = collected["ZeroShot_Top1_Acc/eval_phase/zs"][1]
    assert results["table"]["ZS-Acc"]["zs"] == {
        "value": zs[2], "original": zs[0], "forgetting": pytest.approx(zs[0] - zs[2])}
    assert results["per_experience"]["ZS-Acc"]["zs"] == {"original": zs[0], "after": zs[1:]}
    ir5 = collected["Retrieval_IR@5/eval_phase/ret"][1]
    assert results["table"]["IR@5"]["ret"]["value"] == ir5[-1] and results["table"]["IR@5"]["ret"]["original"] == ir5[0]
    ut = collected["UT_Acc/eval_phase/test_stream"][1]
    assert results["table"]["UT-Acc"]["test_stream"] == {"value": ut[-1], "original": ut[0], "forgetting": None}
    assert results["table"]["BWT"]["test_stream"]["value"] == collected["BWT/eval_phase/test_stream"][1][-1]
    matrix = results["ut_matrix"]["test_stream"]
    assert len(matrix["original"]) == 3 and [len(row) for row in matrix["after"]] == [3, 3]
    assert matrix["after"][1][0] == collected["UT_Session_Acc/eval_phase/test_stream/Exp000"][1][-1]

    text = (tmp_path / "log.txt").read_text()
    assert f"UT_Acc/eval_phase/test_stream = {ut[-1]:.4f}" in text
    assert f"ZeroShot_Top1_Acc/eval_phase/zs = {zs[-1]:.4f}" in text
    assert "Retrieval_TR@1_Forgetting/eval_phase/ret = " in text

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    for name in ("ZeroShot_Top1_Acc/eval_phase/zs", "Retrieval_IR@5/eval_phase/ret", "UT_Acc/eval_phase/test_stream"):
        steps, values = collected[name]
        scalars = events.Scalars(name)
        assert [s.step for s in scalars] == steps
        assert [s.value for s in scalars] == pytest.approx(values)


ROWS = [
    MetricRow("ZeroShot_Top1_Acc/eval_phase/zs", -1, 0, 0.5),
    MetricRow("UT_Acc/eval_phase/test_stream", 0, 10, 0.9),
    MetricRow("UT_Session_Acc/eval_phase/test_stream/Exp000", 0, 10, 0.9),
    MetricRow("UT_Session_Acc/eval_phase/test_stream/Exp001", 0, 10, 0.1),
    MetricRow("ZeroShot_Top1_Acc/eval_phase/zs", 0, 10, 0.4),
    MetricRow("ZeroShot_Top1_Acc_Forgetting/eval_phase/zs", 0, 10, 0.1),
    MetricRow("Retrieval_TR@1/eval_phase/coco", -1, 0, 0.6),
    MetricRow("Retrieval_TR@1/eval_phase/coco", 0, 10, 0.55),
    MetricRow("Retrieval_TR@1/eval_phase/coco", 1, 20, 0.5),
    MetricRow("Retrieval_TR@1_Forgetting/eval_phase/coco", 1, 20, 0.1),
    MetricRow("ZeroShot_Top1_Acc/eval_phase/zs", 1, 20, 0.3),
    MetricRow("ZeroShot_Top1_Acc_Forgetting/eval_phase/zs", 1, 20, 0.2),
    MetricRow("UT_Acc/eval_phase/test_stream", 1, 20, 0.8),
    MetricRow("UT_Session_Acc/eval_phase/test_stream/Exp000", 1, 20, 0.7),
    MetricRow("UT_Session_Acc/eval_phase/test_stream/Exp001", 1, 20, 0.9),
    MetricRow("BWT/eval_phase/test_stream", 1, 20, -0.1),
    MetricRow("Top1_Acc_Stream/eval_phase/test_stream", 1, 20, 0.5),  # Avalanche's own: long file only
]


def test_summary_table_of_a_two_experience_run():
    assert summarize(ROWS, experiences_completed=2) == {
        "experiences_completed": 2,
        "table": {
            "ZS-Acc": {"zs": {"value": 0.3, "original": 0.5, "forgetting": 0.2}},
            "UT-Acc": {"test_stream": {"value": 0.8, "original": None, "forgetting": None}},
            "TR@1": {"coco": {"value": 0.5, "original": 0.6, "forgetting": 0.1}},
            "BWT": {"test_stream": {"value": -0.1, "original": None, "forgetting": None}},
        },
        "per_experience": {
            "ZS-Acc": {"zs": {"original": 0.5, "after": [0.4, 0.3]}},
            "UT-Acc": {"test_stream": {"original": None, "after": [0.9, 0.8]}},
            "TR@1": {"coco": {"original": 0.6, "after": [0.55, 0.5]}},
            "BWT": {"test_stream": {"original": None, "after": [None, -0.1]}},
        },
        "ut_matrix": {"test_stream": {"original": None, "after": [[0.9, 0.1], [0.7, 0.9]]}},
        "skipped_steps": 0,
    }


def test_results_files_are_never_overwritten_and_a_run_resumes_after_its_last_whole_experience(tmp_path):
    write_metric_rows(tmp_path / "metrics.csv", ROWS)
    with pytest.raises(FileExistsError, match="resume_after"):
        ResultsLogger(tmp_path)
    results = ResultsLogger(tmp_path, resume_after=1)
    results.log_single_metric("ZeroShot_Top1_Acc/eval_phase/zs", torch.tensor(0.25), 30)
    results.write()
    rows = read_metric_rows(tmp_path / "metrics.csv")
    assert rows == [r for r in ROWS if r.experience < 1] + [MetricRow("ZeroShot_Top1_Acc/eval_phase/zs", 0, 30, 0.25)]
    assert read_results(tmp_path)["experiences_completed"] == 1


def test_values_that_are_not_scalars_are_reported_not_written(tmp_path, caplog):
    results = ResultsLogger(tmp_path)
    results.log_metrics([MetricValue(None, "Histogram/eval_phase/x", torch.ones(3), 0),
                         MetricValue(None, "UT_Acc/eval_phase/test_stream", 0.5, 0)])
    results.write()
    assert [r.name for r in read_metric_rows(tmp_path / "metrics.csv")] == ["UT_Acc/eval_phase/test_stream"]
    assert "1 metrics with other values were not written" in caplog.text
    assert "Histogram/eval_phase/x (Tensor)" in caplog.text


def test_run_info_labels_are_checked():
    with pytest.raises(ValueError, match="variant='full' is not valid. Available: 'WM', 'IO', 'TO'"):
        RunInfo(method="FT", variant="full", protocol="OST")
    with pytest.raises(ValueError, match="protocol='CIL'"):
        RunInfo(method="FT", variant="WM", protocol="cil")


def test_a_write_that_fails_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    from avalanche_clip import _atomic

    target = tmp_path / "results.json"
    _atomic.atomic_write_text(target, "old")

    def fail(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(_atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        _atomic.atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_atomically_written_file_gets_the_mode_of_a_plain_open(tmp_path, umask):
    from avalanche_clip import _atomic

    previous = os.umask(umask)
    try:
        written = _atomic.atomic_write_text(tmp_path / "results.json", "{}")
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o666 & ~umask
