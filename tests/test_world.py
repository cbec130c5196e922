"""The embedded world: generator, captions, tokenizer, weights, load()."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from avalanche_clip.benchmarks import ExperimentData, mst_benchmark, ost_benchmark
from avalanche_clip.benchmarks import world
from avalanche_clip.benchmarks.datasets import RetrievalDataset, ZeroShotDataset
from avalanche_clip.benchmarks.world.bpe_tokenizer import learn_bpe_merges, shipped_bpe_path, world_texts
from avalanche_clip.benchmarks.world.scenes import sample_corpus_scene
from avalanche_clip.benchmarks.world.shapes import SHAPES, draw_shape
from avalanche_clip.benchmarks.world.weights import shipped_weights_path, world_clip_config

# ----------------------------------------------------------------------------- generator


def test_same_seed_same_scenes_images_and_captions():
    a = world.WorldCaptions(6, seed=3, stream=9)
    b = world.WorldCaptions(6, seed=3, stream=9)
    assert a.scenes == b.scenes
    assert a.captions == b.captions
    np.testing.assert_array_equal(a.images, b.images)


def test_other_seed_other_scenes_images_and_captions():
    a = world.WorldCaptions(6, seed=3, stream=9)
    b = world.WorldCaptions(6, seed=4, stream=9)
    assert a.scenes != b.scenes
    assert a.captions != b.captions
    assert not np.array_equal(a.images, b.images)


def test_every_category_has_a_distinct_nonempty_shape():
    assert set(SHAPES) == set(world.CATEGORIES)
    assert len(world.CATEGORIES) >= 20 and len(world.COLOURS) >= 8
    assert set(world.UPDATE_CATEGORIES).isdisjoint(world.HELD_OUT_CATEGORIES)
    masks = {}
    for category in world.CATEGORIES:
        mask = Image.new("L", (64, 64), 0)
        draw_shape(ImageDraw.Draw(mask), category, (32, 32), 14)
        masks[category] = np.asarray(mask) > 0
        assert masks[category].sum() > 60, category
    for i, a in enumerate(world.CATEGORIES):
        for b in world.CATEGORIES[i + 1:]:
            # at least 8 % of the union differs between any two categories' masks
            union = (masks[a] | masks[b]).sum()
            assert (masks[a] ^ masks[b]).sum() > 0.08 * union, (a, b)


def test_objects_are_drawn_in_their_colour_inside_the_image_without_overlap():
    for index in range(200):
        scene = sample_corpus_scene(world.scene_rng(0, 7, index))
        image = world.render_scene(scene).astype(int)
        for obj in scene.objects:
            x, y = obj.center
            assert obj.radius <= x <= 64 - obj.radius and obj.radius <= y <= 64 - obj.radius
            assert obj.region == world.REGIONS[3 * min(int(y // (64 / 3)), 2) + min(int(x // (64 / 3)), 2)]
            mask = Image.new("L", (64, 64), 0)
            draw_shape(ImageDraw.Draw(mask), obj.category, obj.center, obj.radius)
            inside = image[np.asarray(mask) > 0]  # [P, 3]
            # noise aside, the object's pixels are its colour (jitter of at most 18 per channel)
            assert np.median(np.abs(inside - np.array(world.COLOURS[obj.colour])), axis=0).max() <= 26
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1:]:
                gap = max(abs(a.center[0] - b.center[0]), abs(a.center[1] - b.center[1]))
                assert gap >= a.radius + b.radius


def test_crop_view_shows_the_labelled_object_among_distractors_faded():
    from avalanche_clip.benchmarks.world.crops import CONTRAST, crop_object

    crops = world.WorldObjects(("square", "circle"), per_class=10, seed=0, stream=9, view="crop",
                               distractors=("star", "ring", "square"))
    for scene, target in zip(crops.scenes, crops.targets):
        assert scene.objects[0].category == crops.classes[target] and 2 <= len(scene.objects) <= 3
        assert {o.category for o in scene.objects[1:]} <= {"star", "ring", "square"} - {scene.objects[0].category}
    scene = crops.scenes[0]
    crop = crop_object(world.render_scene(scene), scene.objects[0], np.random.default_rng(0)).astype(float)
    centre = crop[28:36, 28:36].reshape(-1, 3).mean(axis=0)  # inside the square, which fills the crop
    expected = crop.reshape(-1, 3).mean() + CONTRAST * (np.array(scene.objects[0].rgb) - crop.reshape(-1, 3).mean())
    assert np.abs(centre - expected).max() < 12
    assert crop.std() < world.render_scene(scene).std()


# ------------------------------------------------------------------------------ captions

_ADJECTIVES = set(world.SIZES) | set(world.COLOURS)


def _claims(caption: str):
    """Parse a caption into (noun phrases, relations, count) to check against the scene.

    A noun phrase is (adjectives, head, place): head is a category, "object" or "something".
    """
    words = caption.split()
    phrases, relations, count = [], [], None
    places = sorted((r.phrase.split() for r in world.REGIONS), key=len, reverse=True)
    relation_words = sorted((r.split() for r in world.RELATIONS), key=len, reverse=True)
    i, pending_relation = 0, None
    while i < len(words):
        word = words[i]
        if word in ("two", "three") and words[i + 1] == "objects":
            count, i = {"two": 2, "three": 3}[word], i + 2
            continue
        if word == "something":
            phrases.append(({words[i + 1]}, "something", None))
            i += 2
        elif word in _ADJECTIVES or word in world.CATEGORIES:
            adjectives = set()
            while words[i] in _ADJECTIVES:
                adjectives.add(words[i])
                i += 1
            assert words[i] in world.CATEGORIES or words[i] == "object", caption
            phrases.append((adjectives, words[i], None))
            i += 1
        else:
            for place in places:
                if words[i:i + len(place)] == place:
                    adjectives, head, _ = phrases[-1]
                    phrases[-1] = (adjectives, head, " ".join(place))
                    i += len(place)
                    break
            else:
                for relation in relation_words:
                    if words[i:i + len(relation)] == relation:
                        pending_relation = (len(phrases) - 1, " ".join(relation))
                        i += len(relation)
                        break
                else:
                    fillers = ("a", "an", "and", ",", ":", "photo", "of", "there", "is", "in", "the", "scene")
                    assert word in fillers, caption
                    if word in ("a", "an"):
                        assert (word == "an") == (words[i + 1][0] in "aeiou"), caption
                    i += 1
                continue
        if pending_relation is not None and pending_relation[0] == len(phrases) - 2:
            relations.append((pending_relation[0], pending_relation[1], len(phrases) - 1))
            pending_relation = None
    return phrases, relations, count


def _matches(phrase, obj) -> bool:
    adjectives, head, place = phrase
    if head in world.CATEGORIES and head != obj.category:
        return False
    if any(a in world.SIZES and a != obj.size for a in adjectives):
        return False
    if any(a in world.COLOURS and a != obj.colour for a in adjectives):
        return False
    return place is None or place == obj.region.phrase


def test_captions_describe_exactly_the_attributes_drawn():
    checked = 0
    for index in range(300):
        scene = sample_corpus_scene(world.scene_rng(0, 8, index))
        captions = world.scene_captions(scene)
        assert len(captions) >= world.CAPTIONS_PER_SCENE and len(set(captions)) == len(captions)
        for caption in captions:
            phrases, relations, count = _claims(caption)
            assert count in (None, len(scene.objects)), caption
            # each phrase is true of an object, distinct phrases of distinct objects
            matched = []
            for phrase in phrases:
                candidates = [k for k, obj in enumerate(scene.objects) if _matches(phrase, obj) and k not in matched]
                assert candidates, (caption, scene)
                matched.append(candidates[0])
            for left, name, right in relations:
                assert world.relation(scene.objects[matched[left]], scene.objects[matched[right]]) == name, caption
            checked += 1
    assert checked > 1500


def test_relation_follows_the_grid():
    cell = {(r.row, r.column): r for r in world.REGIONS}

    def at(row, column):
        return world.SceneObject("star", "red", "small", cell[(row, column)], (0.0, 0.0), 1.0, (0, 0, 0))

    assert world.relation(at(0, 1), at(2, 1)) == "above"
    assert world.relation(at(2, 0), at(1, 0)) == "below"
    assert world.relation(at(1, 0), at(1, 2)) == "to the left of"
    assert world.relation(at(0, 2), at(1, 0)) == "to the right of"
    assert world.relation(at(0, 0), at(1, 1)) is None


# ----------------------------------------------------------------------------- tokenizer


def test_shipped_bpe_is_the_one_learned_from_the_world_vocabulary():
    lines = gzip.open(shipped_bpe_path()).read().decode("utf-8").split("\n")
    shipped = [tuple(line.split()) for line in lines[1:] if line]
    assert shipped == learn_bpe_merges(world_texts())


def test_tokenizer_round_trips_the_caption_vocabulary_one_token_per_word():
    tokenizer = world.world_tokenizer()
    assert tokenizer.vocab_size == world_clip_config()["text_cfg"]["vocab_size"]
    texts = world_texts() + world.WorldCaptions(50, seed=0, stream=9).captions
    for word in {w for text in texts for w in text.split()}:
        assert len(tokenizer.encode(word)) == 1, word
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)).strip() == text
        tokens = tokenizer([text])[0]
        assert tokens[0] == tokenizer.sot_token_id and tokenizer.eot_token_id in tokens


# ------------------------------------------------------------------------------- weights


def test_weights_round_trip_and_a_corrupted_file_fails_clearly(tmp_path):
    torch.manual_seed(0)
    clip = world.build_world_clip()
    path = tmp_path / "w.pt"
    world.save_weights(clip, path)
    loaded = world.load_weights(world.build_world_clip(), path)
    for (name, a), b in zip(clip.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a.half().float(), b.float(), msg=name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted = tmp_path / "c.pt"
    corrupted.write_bytes(bytes(data))
    shutil.copy(tmp_path / "w.pt.sha256", tmp_path / "c.pt.sha256")
    with pytest.raises(RuntimeError, match="Checksum mismatch"):
        world.load_weights(world.build_world_clip(), corrupted)
    (tmp_path / "w.pt.sha256").unlink()
    with pytest.raises(FileNotFoundError, match="w.pt.sha256"):
        world.load_weights(world.build_world_clip(), path)


def test_world_clip_is_an_openclip_vit_with_a_conv_stem_of_its_patch_stride():
    from avalanche_clip.benchmarks.world.stem import ConvStem, install_conv_stem

    clip = world.build_world_clip()
    assert isinstance(clip.visual.conv1, ConvStem)
    grid = clip.visual.conv1(torch.zeros(2, 3, 64, 64))
    assert grid.shape == (2, clip.visual.transformer.width, 8, 8)
    assert clip.encode_image(torch.zeros(2, 3, 64, 64)).shape == (2, world_clip_config()["embed_dim"])
    with pytest.raises(ValueError, match="stride 4 but the ViT's patch_size is 8"):
        plain = {k: v for k, v in world_clip_config().items() if k != "conv_stem"}
        install_conv_stem(world.build_world_clip(plain).visual, [32])


def test_shipped_weights_fit_the_size_budget():
    assert shipped_weights_path().stat().st_size <= 8 * 2**20


# ---------------------------------------------------------------------------------- load


@pytest.fixture(scope="module")
def loaded():
    return world.load(train_per_class=2, test_per_class=1, zeroshot_per_class=2, retrieval_size=4)


def test_load_returns_the_protocol_data(loaded):
    model, data = loaded
    assert isinstance(data, ExperimentData)
    assert data.class_names == world.UPDATE_CATEGORIES and data.templates == world.UPDATE_TEMPLATES
    assert list(data.train.targets) == [c for c in range(16) for _ in range(2)]
    assert data.train.view == data.test.view == "crop"
    assert set(data.zeroshot) == set(world.ZEROSHOT_SETS) and set(data.retrieval) == set(world.RETRIEVAL_SETS)
    shapes = data.zeroshot["world-heldout-shapes"]
    assert isinstance(shapes, ZeroShotDataset) and shapes.classes == world.HELD_OUT_CATEGORIES
    assert set(shapes.classes).isdisjoint(data.class_names)
    image, label = shapes[3]
    assert image.shape == (3, 64, 64) and label == 1
    assert [s.objects[0].category for s in shapes.scenes] == [shapes.classes[t] for t in shapes.targets]
    colours = data.zeroshot["world-colours"]
    assert [s.objects[0].colour for s in colours.scenes] == [colours.classes[t] for t in colours.targets]
    scenes = data.retrieval["world-scenes"]
    assert isinstance(scenes, RetrievalDataset) and len(scenes) == 4
    assert scenes.caption_to_image == [i for i in range(4) for _ in range(5)]
    assert scenes[0].shape == (3, 64, 64)
    assert model.update == "whole" and model.image_size == 64


def test_shipped_model_makes_the_protocol_meaningful(loaded):
    """Zero-shot >= 3x chance, retrieval R@1 >= 5x chance; the update task not solved zero-shot."""
    model, _ = loaded
    data = world.WorldData(seed=1, test_per_class=5, zeroshot_per_class=5, retrieval_size=50).build()
    model.eval()
    with torch.no_grad():
        for name, dataset in data.zeroshot.items():
            images = model.encode_image(torch.stack([dataset[i][0] for i in range(len(dataset))]))  # [N, D]
            model.set_vocabulary(dataset.classes, dataset.templates)
            predicted = (images @ model.prompt_features().T).argmax(dim=1)
            accuracy = (predicted == torch.tensor(dataset.targets)).float().mean().item()
            assert accuracy >= 3 / len(dataset.classes), name
        scenes = data.retrieval["world-scenes"]
        images = model.encode_image(torch.stack([scenes[i] for i in range(len(scenes))]))  # [50, D]
        scores_i2t = images @ model.encode_text(model.tokenizer(scenes.captions)).T  # [50, 250]
        owner = torch.tensor(scenes.caption_to_image)
        assert (owner[scores_i2t.argmax(dim=1)] == torch.arange(50)).float().mean() >= 5 / 50
        assert (scores_i2t.argmax(dim=0) == owner).float().mean() >= 5 / 50
        eval_tf = world.world_eval_transform()
        images = model.encode_image(torch.stack([eval_tf(data.test[i][0]) for i in range(len(data.test))]))
        model.set_vocabulary(data.class_names, data.templates)
        predicted = (images @ model.prompt_features().T).argmax(dim=1)
        accuracy = (predicted == torch.tensor(data.test.targets)).float().mean().item()
    assert 3 / 16 <= accuracy <= 0.8


def test_loaded_data_builds_benchmarks_the_model_classifies(loaded):
    model, data = loaded
    train_tf, eval_tf = world.world_transforms()
    ost = ost_benchmark(data.train, data.test, data.class_names, templates=data.templates,
                        train_transform=train_tf, eval_transform=eval_tf)
    mst = mst_benchmark(data.train, data.test, data.class_names, n_sessions=4,
                        train_transform=train_tf, eval_transform=eval_tf, templates=data.templates)
    assert len(mst.train_stream) == 4 and mst.train_stream[1].classes_in_this_experience == [4, 5, 6, 7]
    experience = ost.test_stream[0]
    model.eval()
    model.adaptation(experience)
    x, y, _ = next(iter(torch.utils.data.DataLoader(experience.dataset, batch_size=8)))
    with torch.no_grad():
        logits = model(x)
    assert x.shape == (8, 3, 64, 64) and logits.shape == (8, 16) and torch.isfinite(logits).all()
