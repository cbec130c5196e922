"""PaperData on small real files: the ExperimentData it builds runs through the benchmarks."""

import pytest
import torch
from data_files import (
    CLASS_NAMES,
    write_coco,
    write_flickr,
    write_folder,
    write_json_list,
)
from PIL import Image

from avalanche_clip.benchmarks import (
    ExperimentData,
    PaperData,
    clip_transforms,
    mst_benchmark,
    ost_benchmark,
)
from avalanche_clip.benchmarks.datasets import (
    COCOCrops,
    RetrievalDataset,
    ZeroShotDataset,
)
from avalanche_clip.models import DEFAULT_TEMPLATES
from avalanche_clip.training import CLIPStrategy


@pytest.fixture
def files(tmp_path):
    coco = write_coco(tmp_path / "coco")
    flickr_images, flickr_json = write_flickr(tmp_path / "flickr")
    return dict(coco=coco, flickr_images=flickr_images, flickr_json=flickr_json,
                folder=write_folder(tmp_path / "zs"), json_list=write_json_list(tmp_path / "fewshot"))


def paper_data(files, tmp_path, **kwargs):
    args = dict(
        coco_root=str(files["coco"].root),
        coco_karpathy_json=str(files["coco"].karpathy_json),
        flickr30k_root=str(files["flickr_images"]),
        flickr30k_karpathy_json=str(files["flickr_json"]),
        zeroshot={"tiered": {"kind": "folder", "root": str(files["folder"])},
                  "fewshot": {"kind": "json", "path": str(files["json_list"]), "templates": "simple_imagenet"}},
        cache_dir=str(tmp_path / "cache"),
    )
    return PaperData(**(args | kwargs))


@pytest.fixture
def build(files, tmp_path, make_model):
    model = make_model()
    return lambda **kwargs: paper_data(files, tmp_path, **kwargs).build(model)


def test_builder_assembles_the_papers_data(build):
    data = build()
    assert isinstance(data, ExperimentData)
    assert isinstance(data.train, COCOCrops) and data.train.split == "train" and len(data.train) == 5
    assert data.test.split == "test" and len(data.test) == 3
    assert data.class_names == CLASS_NAMES and data.templates == DEFAULT_TEMPLATES
    assert isinstance(data.train[0][0], Image.Image)  # the benchmark applies the transforms
    assert set(data.retrieval) == {"coco5k", "flickr30k"} and data.retrieval_folds == {"coco5k": 5, "flickr30k": 1}
    coco5k = data.retrieval["coco5k"]
    assert isinstance(coco5k, RetrievalDataset) and coco5k.caption_to_image == [0] * 5 + [1] * 5  # max 5
    assert coco5k[0].shape == (3, 32, 32)
    assert set(data.zeroshot) == {"tiered", "fewshot"}
    assert all(isinstance(z, ZeroShotDataset) for z in data.zeroshot.values())
    assert data.zeroshot["fewshot"].classes == ["apple", "cherry"] and len(data.zeroshot["fewshot"].templates) == 7
    assert data.zeroshot["tiered"][0][0].shape == (3, 32, 32)
    assert data.train_transform(data.train[0][0]).shape == (3, 32, 32)  # the model's transforms


def test_options_reach_the_loaders(build):
    data = build(flickr30k_root=None, flickr30k_karpathy_json=None, zeroshot=None,
                 templates="a {} in a photo", min_size=19.9, include_crowd=False, max_captions=None, coco_folds=1)
    assert data.templates == ("a {} in a photo",) and data.zeroshot == {}
    assert len(data.train) == 2 and data.retrieval_folds == {"coco5k": 1}  # 104, 107 (106 is a crowd box)
    assert data.retrieval["coco5k"].caption_to_image == [0] * 5 + [1] * 6


def test_builder_bad_input(files, tmp_path, build):
    with pytest.raises(ValueError, match="Give both flickr30k_root and flickr30k_karpathy_json"):
        paper_data(files, tmp_path, flickr30k_karpathy_json=None)
    with pytest.raises(FileNotFoundError, match=r"COCO instances file .*elsewhere/instances_train2014.json'"):
        build(coco_annotations=str(tmp_path / "elsewhere"))
    with pytest.raises(ValueError, match="coco_folds must be an integer >= 1"):
        paper_data(files, tmp_path, coco_folds=0)


def test_coco_crops_run_through_mst_and_ost_benchmarks_and_training(files, tmp_path, make_model):
    model = make_model()
    train_tf, eval_tf = clip_transforms(model)
    data = paper_data(files, tmp_path).build(model)
    mst = mst_benchmark(data.train, data.test, data.class_names, n_sessions=3, train_transform=train_tf,
                        eval_transform=eval_tf, templates=data.templates)
    sessions = list(mst.train_stream)
    assert [e.classes_in_this_experience for e in sessions] == [[0], [1], [2]]
    assert [len(e.dataset) for e in sessions] == [1, 2, 2]
    assert [len(e.dataset) for e in mst.test_stream] == [1, 1, 1]
    image, label, task = sessions[2].dataset.train()[0]
    assert image.shape == (3, 32, 32) and label == 2 and task == 0
    assert sessions[0].class_names == CLASS_NAMES and sessions[0].prompt_templates == DEFAULT_TEMPLATES

    ost = ost_benchmark(data.train, data.test, data.class_names, train_transform=train_tf, eval_transform=eval_tf)
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=1e-3),
                            train_mb_size=5, eval_mb_size=3)
    strategy.train(ost.train_stream[0])
    results = strategy.eval(ost.test_stream)
    assert 0.0 <= results["Top1_Acc_Stream/eval_phase/test_stream"] <= 1.0
