"""CLIPClassifier: logits, variants, masking, caching, loading."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from avalanche_clip.models import CLIPClassifier, encode_text, tower_of

NAMES = ["cat", "dog", "bird", "fish"]


def experience(classes, names=NAMES):
    return SimpleNamespace(class_names=names, classes_in_this_experience=classes)


def test_logits_equal_hand_computation(make_model):
    model = make_model(templates=["a photo of {} ."]).eval()
    model.set_vocabulary(NAMES)
    images = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        image = F.normalize(model.clip.encode_image(images), dim=-1)
        tokens = model.tokenizer([f"a photo of {n} ." for n in NAMES])
        text = F.normalize(model.clip.encode_text(tokens), dim=-1)
        expected = model.clip.logit_scale.exp() * image @ text.T
        assert torch.allclose(model(images), expected, atol=1e-5)


def test_template_ensemble_is_mean_of_normalised_features(make_model):
    templates = ["a photo of {} .", "a drawing of a {} ."]
    model = make_model(templates=templates).eval()
    model.set_vocabulary(NAMES)
    with torch.no_grad():
        per_template = torch.stack([
            F.normalize(model.clip.encode_text(model.tokenizer([t.format(n) for n in NAMES])), dim=-1)
            for t in templates
        ])
        expected = F.normalize(per_template.mean(0), dim=-1)
        assert torch.allclose(model.prompt_features(), expected, atol=1e-5)


def test_trimmed_text_encoding_equals_full_context(make_model):
    model = make_model()
    tokens = model.tokenizer(["a", "a photo of a small red star on the left", "dog ."])
    with torch.no_grad():
        assert torch.allclose(encode_text(model.clip, tokens), model.clip.encode_text(tokens), atol=1e-5)


@pytest.mark.parametrize("update, trained", [
    ("whole", {"image", "text", "scale"}), ("image", {"image", "scale"}), ("text", {"text", "scale"}),
])
def test_variant_trains_exactly_its_parameters_and_leaves_the_rest_bit_identical(make_model, update, trained):
    model = make_model(update=update)
    for name, param in model.clip.named_parameters():
        assert param.requires_grad == (tower_of(name) in trained), name
    model.set_vocabulary(NAMES)
    frozen = {n: p.detach().clone() for n, p in model.clip.named_parameters() if not p.requires_grad}
    before = {n: p.detach().clone() for n, p in model.clip.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(2):
        loss = F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for name, param in model.clip.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), name
    assert any(not torch.equal(p, before[n]) for n, p in model.clip.named_parameters() if n in before)


def test_unknown_variant_is_refused(make_model):
    with pytest.raises(ValueError, match="update='both'.*'whole', 'image', 'text'"):
        make_model(update="both")


def test_masked_classes_get_no_gradient_and_eval_scores_every_class(make_model):
    model = make_model().train()
    model.adaptation(experience([1, 2]))
    logits = model(torch.randn(3, 3, 32, 32))
    assert torch.isinf(logits[:, [0, 3]]).all() and torch.isfinite(logits[:, [1, 2]]).all()
    # no gradient may reach a masked class's prompt feature: compute them with grad and check
    text = model.encode_prompts(model.vocabulary.tokens)
    text.retain_grad()
    image = model.encode_image(torch.randn(3, 3, 32, 32))
    scores = model.clip.logit_scale.exp() * image @ text.T
    masked = scores.masked_fill(~torch.isin(torch.arange(4), torch.tensor([1, 2])), float("-inf"))
    F.cross_entropy(masked, torch.tensor([1, 2, 1])).backward()
    assert torch.count_nonzero(text.grad[[0, 3]]) == 0 and torch.count_nonzero(text.grad[[1, 2]]) > 0
    # the model's own forward: its text features cover only the kept classes
    assert model.last_features.class_ids.tolist() == [1, 2]
    model.eval()
    model.adaptation(experience([1, 2]))
    assert torch.isfinite(model(torch.randn(3, 3, 32, 32))).all()


def test_mask_policies(make_model):
    for policy, expected in [("current", [2, 3]), ("seen", [0, 1, 2, 3]), ("none", None)]:
        model = make_model(train_mask=policy).train()
        model.adaptation(experience([0, 1]))
        model.adaptation(experience([2, 3]))
        assert model.train_classes == expected


def test_requested_classes_are_encoded_but_stay_masked(make_model):
    model = make_model().train()
    model.adaptation(experience([2, 3]))
    model.request_text_features([0, 1])
    logits = model(torch.randn(2, 3, 32, 32))
    assert model.last_features.class_ids.tolist() == [0, 1, 2, 3]
    assert torch.isinf(logits[:, [0, 1]]).all()


def test_eval_vocabulary_does_not_change_training_vocabulary(make_model):
    model = make_model().train()
    model.adaptation(experience([0, 1]))
    model.eval()
    model.adaptation(experience([0], names=["red", "green"]))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 2)
    model.train()
    assert model.class_names == tuple(NAMES) and model.train_classes == [0, 1]


def test_prompt_cache_is_reused_and_invalidated_by_an_optimizer_step(make_model):
    model = make_model(update="whole").eval()
    model.set_vocabulary(NAMES)
    with torch.no_grad():
        first = model.prompt_features()
        assert model.prompt_features() is first
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.train()
    model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum().backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        second = model.prompt_features()
        assert second is not first and not torch.allclose(first, second)
        assert torch.allclose(second, model.encode_prompts(model.vocabulary.tokens), atol=1e-6)


def test_prompt_features_carry_grad_in_eval_mode_when_grad_is_enabled(make_model):
    # EWC computes its importances in eval mode: the text tower must get its gradient there too
    model = make_model(update="text").eval()
    model.set_vocabulary(NAMES)
    model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum().backward()
    assert model.clip.token_embedding.weight.grad is not None


def test_frozen_text_tower_reuses_prompt_features_in_training(make_model):
    model = make_model(update="image").train()
    model.adaptation(experience([0, 1, 2, 3]))
    model(torch.randn(2, 3, 32, 32))
    first = model.last_features.text
    model(torch.randn(2, 3, 32, 32))
    assert not first.requires_grad and model.last_features.text.data_ptr() == first.data_ptr()


def test_state_dict_restores_vocabulary_and_class_bookkeeping(make_model):
    model = make_model(train_mask="seen").train()
    model.adaptation(experience([0, 1]))
    model.adaptation(experience([2]))
    clone = make_model(train_mask="seen")
    clone.load_state_dict(model.state_dict())
    assert clone.class_names == tuple(NAMES) and clone.train_classes == [0, 1, 2]
    assert clone.seen_classes == [0, 1, 2]


def test_no_vocabulary_is_a_clear_error(make_model):
    with pytest.raises(RuntimeError, match="no vocabulary"):
        make_model()(torch.randn(1, 3, 32, 32))


def test_adaptation_requires_class_names(make_model):
    with pytest.raises(AttributeError, match="class_names"):
        make_model().adaptation(SimpleNamespace(classes_in_this_experience=[0]))


@pytest.mark.parametrize("templates, match", [
    (["a photo of a cat"], "exactly one"), ([], "empty"), (["{} and {}"], "exactly one"),
])
def test_bad_templates_are_refused(make_model, templates, match):
    with pytest.raises(ValueError, match=match):
        make_model(templates=templates)


def test_duplicate_class_names_are_refused(make_model):
    with pytest.raises(ValueError, match="duplicates.*'cat'"):
        make_model().set_vocabulary(["cat", "dog", "cat"])


def test_from_pretrained_loads_a_checkpoint_file_exactly(tmp_path, base_tiny_clip):
    clip, _ = base_tiny_clip
    path = tmp_path / "weights.pt"
    torch.save(clip.state_dict(), path)
    loaded = CLIPClassifier.from_pretrained("tiny-clip", pretrained=str(path))
    for (name, expected), (_, got) in zip(clip.state_dict().items(), loaded.clip.state_dict().items()):
        assert torch.equal(expected, got), name


def test_unknown_model_name_names_the_closest(tmp_path):
    with pytest.raises(ValueError, match="Unknown OpenCLIP model 'ViT-B-33'.*Closest: .*ViT-B-32"):
        CLIPClassifier.from_pretrained("ViT-B-33")


def test_unknown_pretrained_tag_lists_the_tags():
    with pytest.raises(FileNotFoundError, match="'nope' is neither a file nor a pretrained tag.*openai"):
        CLIPClassifier.from_pretrained("ViT-B-32", pretrained="nope")


def test_tokenizer_vocabulary_is_exposed(make_model):
    info = make_model().tokenizer_info
    assert info.vocab_size == 49408 and info.eot_id == 49407 and info.sot_id == 49406
    ordinary = info.ordinary_ids()
    assert len(ordinary) == 49406 and 49406 not in ordinary.tolist()
