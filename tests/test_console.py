"""What a run prints: one progress bar, the encodings' bars, the metric blocks only when asked, the results table."""

import json
import re

import torch
import yaml

from avalanche_clip.benchmarks import PaperData
from avalanche_clip.cli import main
from avalanche_clip.evaluation import RetrievalMetric, ZeroShotMetric
from avalanche_clip.evaluation.encoding import encode_labelled_images
from avalanche_clip.experiment import EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec, run
from avalanche_clip.training import VRLwFPlugin

BLOCK_LINES = ("-- Starting eval on experience 0 from test stream --",
               "Top1_Acc_Exp/eval_phase/test_stream/Exp000 = ")
"""Lines of Avalanche's per-experience metric blocks (its text loggers print them)."""


def small_config(paper_files, tmp_path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 3, "model": {"name": "tiny-clip"}, "protocol": {"name": "mst", "n_sessions": 3},
        "data": {"class_path": "avalanche_clip.benchmarks.PaperData", "init_args": paper_files},
        "training": {"epochs": 2, "batch_size": 4, "lr": 1e-4}, "evaluation": {"batch_size": 8, "tensorboard": False},
        "plugins": [{"class_path": "avalanche_clip.training.VRLwFPlugin", "init_args": {"num_pseudo": 8}}],
    }))
    return str(path)


def test_a_run_shows_one_bar_and_ends_with_its_results_table(paper_files, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run(output_dir=str(run_dir), seed=3, model=ModelSpec(name="tiny-clip"), data=PaperData(**paper_files),
        protocol=ProtocolSpec(name="mst", n_sessions=3), plugins=[VRLwFPlugin(num_pseudo=8)],
        training=TrainingSpec(epochs=2, batch_size=4, lr=1e-4), evaluation=EvaluationSpec(batch_size=8,
                                                                                          tensorboard=False))
    out, err = capsys.readouterr()
    for line in BLOCK_LINES:
        assert line not in out + err  # not on the console...
        assert line in (run_dir / "log.txt").read_text()  # ...but in log.txt, whole
    bars = re.findall(r"run +(\d+)%\|[^|]*\| [^,\r\n]*, (session \d/3, epoch \d/2)", err)
    assert bars[-1] == ("100", "session 3/3, epoch 2/2")
    assert {"session 1/3, epoch 1/2", "session 2/3, epoch 2/2"} <= {where for _, where in bars}
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", err)  # elapsed < estimated time left
    for name in ("coco5k: images", "coco5k: captions", "shapes: images", "shapes: class prompts"):
        assert f"{name}:" in err  # the encodings' bars

    table = out.rstrip().splitlines()
    assert [cell.strip() for cell in table[-7].split("|")[1:5]] == ["MST", "Original", "After VR-LwF", "Forgetting"]
    results = json.loads((run_dir / "results.json").read_text())["table"]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:5]] for line in table[-5:]}
    assert list(rows) == ["UT-Acc", "ZS-Acc (shapes)", "TR@1 (coco5k)", "IR@1 (coco5k)", "BWT"]
    original, now = results["ZS-Acc"]["shapes"]["original"], results["ZS-Acc"]["shapes"]["value"]
    assert rows["ZS-Acc (shapes)"] == [f"{100 * original:.2f}", f"{100 * now:.2f}", f"{100 * (original - now):.2f}"]
    assert rows["UT-Acc"][2] == "–" and rows["BWT"][0] == "–"
    assert f"{run_dir / 'report' / 'results.md'}" in table[-9]


def test_verbose_prints_the_metric_blocks(paper_files, tmp_path, capsys):
    main(["run", "--config", small_config(paper_files, tmp_path), "--output_dir", str(tmp_path / "run"),
          "--verbose", "--training.epochs", "1"])
    out = capsys.readouterr().out
    for line in BLOCK_LINES:
        assert line in out
    assert out.rstrip().splitlines()[-1].startswith("| BWT ")
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["verbose"] is False  # not the run's


def test_the_encoders_report_their_progress(make_model, zeroshot_set, retrieval_set, capsys):
    model, device = make_model(), torch.device("cpu")
    with torch.no_grad():
        encode_labelled_images(model, zeroshot_set, batch_size=7, device=device)
        assert capsys.readouterr().err == ""  # no description: no bar
        ZeroShotMetric("colours", zeroshot_set, batch_size=7).measure(model, device)
        RetrievalMetric("scenes", retrieval_set, ks=(1,), batch_size=7).measure(model, device)
    err = capsys.readouterr().err
    # 20 images and 5 classes x 2 templates (3 classes a batch); 12 images and 60 captions
    for name, batches in (("colours: images", 3), ("colours: class prompts", 2), ("scenes: images", 2),
                          ("scenes: captions", 9)):
        assert re.search(rf"{name}: +0%\|[^|]*\| 0/{batches} ", err), name
