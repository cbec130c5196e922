"""Reports from fake run directories: the paper-layout tables (markdown, CSV), the plots, the CLI."""

import csv
import json

import pytest
from PIL import Image

from avalanche_clip.cli import main
from avalanche_clip.results import MetricRow, RunInfo, load_runs, summarize, write_report, write_run_info
from avalanche_clip.results.plots import retrieval_figure, session_figure


def fake_run(path, info, *, ut, zs, tr, ir, bwt=None):
    """A run directory as ResultsLogger and the runner leave it; series are (original, after...)."""
    rows = []
    for name, series in (("UT_Acc/eval_phase/test_stream", ut), ("ZeroShot_Top1_Acc/eval_phase/zs", zs),
                         ("Retrieval_TR@1/eval_phase/coco", tr), ("Retrieval_IR@1/eval_phase/coco", ir),
                         ("BWT/eval_phase/test_stream", bwt or ())):
        rows += [MetricRow(name, t - 1, 10 * t, v) for t, v in enumerate(series) if v is not None]
    path.mkdir()
    write_run_info(path, info)
    (path / "results.json").write_text(json.dumps(summarize(rows, experiences_completed=len(zs) - 1)))
    return path


@pytest.fixture
def run_dirs(tmp_path):
    def mst(method, seed):
        return RunInfo(method=method, variant="WM", protocol="MST", seed=seed)
    return [
        fake_run(tmp_path / "ft0", mst("FT", 0), ut=(None, 0.9, 0.8), zs=(0.5, 0.4, 0.3), tr=(0.6, 0.55, 0.5),
                 ir=(0.4, 0.35, 0.3), bwt=(None, 0.0, -0.1)),
        fake_run(tmp_path / "vr", mst("VR-LwF", 0), ut=(None, 0.85, 0.82), zs=(0.5, 0.48, 0.47),
                 tr=(0.6, 0.6, 0.59), ir=(0.4, 0.4, 0.39), bwt=(None, 0.0, -0.03)),
        fake_run(tmp_path / "ft1", mst("FT", 1), ut=(None, 0.8, 0.7), zs=(0.5, 0.42, 0.33), tr=(0.6, 0.5, 0.45),
                 ir=(0.4, 0.3, 0.25), bwt=(None, 0.0, -0.2)),
        fake_run(tmp_path / "ost", RunInfo(method="FT", variant="image", protocol="OST"), ut=(0.3, 0.7),
                 zs=(0.5, 0.35), tr=(0.6, 0.52), ir=(0.4, 0.33)),
    ]


def test_tables_in_the_papers_layout(run_dirs, tmp_path):
    files = write_report(run_dirs, tmp_path / "report")
    markdown = files.markdown.read_text()
    ost, mst = markdown.split("## OST")[1].split("## MST")
    assert "| Method | Variant | Runs | UT-Acc | ZS-Acc (zs) | TR@1 (coco) | IR@1 (coco) | BWT |" in mst
    assert "| Original CLIP | - | 3 | – | 50.00 ± 0.00 | 60.00 ± 0.00 | 40.00 ± 0.00 | – |" in mst
    # FT: two seeds, mean ± sample std of the final values; VR-LwF: one run
    assert "| FT | WM | 2 | 75.00 ± 7.07 | 31.50 ± 2.12 | 47.50 ± 3.54 | 27.50 ± 3.54 | -15.00 ± 7.07 |" in mst
    assert "| VR-LwF | WM | 1 | 82.00 | 47.00 | 59.00 | 39.00 | -3.00 |" in mst
    assert "| Original CLIP | - | 1 | 30.00 | 50.00 | 60.00 | 40.00 |" in ost and "BWT" not in ost
    assert "| FT | IO | 1 | 70.00 | 35.00 | 52.00 | 33.00 |" in ost

    with files.csv.open() as file:
        rows = {(r["protocol"], r["method"]): r for r in csv.DictReader(file)}
    assert rows["MST", "FT"]["UT-Acc"] == "75.0000" and rows["MST", "FT"]["UT-Acc std"] == "7.0711"
    assert rows["MST", "FT"]["runs"] == "2" and rows["OST", "FT"]["BWT"] == ""
    assert rows["OST", "Original CLIP"]["IR@1 (coco)"] == "40.0000"


def test_plots_show_each_method_per_session_and_tr_against_ir(run_dirs, tmp_path):
    runs = load_runs(run_dirs)
    ut_axes, zs_axes = session_figure(runs).axes
    ft, vr = ut_axes.lines
    assert ft.get_label() == "FT (WM)" and ft.get_xydata().ravel().tolist() == pytest.approx([1, 85, 2, 75])
    assert zs_axes.lines[1].get_xydata().ravel().tolist() == pytest.approx([0, 50, 1, 48, 2, 47])  # 0 = original
    (coco,) = retrieval_figure(runs, "MST").axes
    points = {c.get_label(): c.get_offsets().tolist()[0] for c in coco.collections}
    assert points == {"FT (WM)": pytest.approx([47.5, 27.5]), "VR-LwF (WM)": pytest.approx([59, 39]),
                      "Original CLIP": pytest.approx([60, 40])}

    files = write_report(run_dirs, tmp_path / "report")
    assert sorted(p.name for p in files.plots) == ["mst_sessions.png", "tr_vs_ir_mst.png", "tr_vs_ir_ost.png"]
    for path in files.plots:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_the_report_command(run_dirs, tmp_path):
    main(["report", str(run_dirs[0]), str(run_dirs[1]), "--output", str(tmp_path / "out")])
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| FT | WM | 1 |" in table and "| VR-LwF | WM | 1 |" in table
    assert (tmp_path / "out" / "mst_sessions.png").is_file()


def test_a_directory_without_run_json_is_named(run_dirs, tmp_path):
    (run_dirs[0] / "run.json").unlink()
    with pytest.raises(FileNotFoundError, match="ft0/run.json not found.*write_run_info"):
        write_report(run_dirs, tmp_path / "report")
