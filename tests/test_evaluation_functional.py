"""The metric math on hand-made features: accuracy, Recall@K with ties and several captions,
folds, the MST matrix, UT-Acc and BWT."""

import pytest
import torch

from avalanche_clip.evaluation import backward_transfer, fold_recall, retrieval_recall, updated_task_accuracy
from avalanche_clip.evaluation import positive_ranks, zeroshot_accuracy
from avalanche_clip.evaluation.metrics import fold_bounds, session_accuracy


def test_zeroshot_accuracy_counts_ties_against_the_image():
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # classes 0 and 2 are the same prompt
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 1])
    # scores: [1, 0, 1] tie -> rank 1; [0, 1, 0] -> 0; [.6, .8, .6] -> 2 (class 1 above, class 2 tied);
    # label 1 of [1, 0, 1] -> 2
    assert positive_ranks(images @ classes.T, torch.nn.functional.one_hot(labels, 3).bool()).tolist() == [1, 0, 2, 2]
    assert zeroshot_accuracy(images, classes, labels, (1, 2, 3)) == {1: 0.25, 2: 0.5, 3: 1.0}


def test_recall_any_caption_rule_and_ties():
    e = torch.eye(3)
    # image 0: four captions that look like image 1 and one like itself; image 1 and 2: like themselves
    texts = torch.stack([e[1]] * 4 + [e[0]] + [e[1]] * 5 + [e[2]] * 5)  # [15, 3]
    caption_to_image = torch.tensor([0] * 5 + [1] * 5 + [2] * 5)
    recall = fold_recall(e, texts, caption_to_image, (1, 2, 3, 4, 5))
    # TR ranks: image 0 -> 0 (its fifth caption), image 1 -> 4 (image 0's four captions tie), image 2 -> 0
    assert [recall[f"Retrieval_TR@{k}"] for k in (1, 2, 3, 4, 5)] == pytest.approx([2 / 3] * 4 + [1.0])
    # IR ranks: image 0's four look-alike captions -> 2 (image 1 above, image 2 tied at 0), the rest 0
    assert [recall[f"Retrieval_IR@{k}"] for k in (1, 2, 3)] == pytest.approx([11 / 15, 11 / 15, 1.0])


def naive_recall(images, texts, caption_to_image, k):
    """Loops: an image is a hit when some caption of it has fewer than k other-image captions
    scoring at least as high; a caption when fewer than k other images score at least as high."""
    scores = images @ texts.T
    text_hits = []
    for i in range(len(images)):
        own = [c for c in range(len(texts)) if caption_to_image[c] == i]
        others = [c for c in range(len(texts)) if caption_to_image[c] != i]
        text_hits.append(any(sum(scores[i, o] >= scores[i, c] for o in others) < k for c in own))
    image_hits = []
    for c in range(len(texts)):
        i = caption_to_image[c]
        image_hits.append(sum(scores[j, c] >= scores[i, c] for j in range(len(images)) if j != i) < k)
    return sum(text_hits) / len(text_hits), sum(image_hits) / len(image_hits)


def test_recall_equals_a_naive_reference_on_seeded_features_with_many_ties():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 3, (8, 4), generator=generator).float()  # small integers: many ties
    texts = torch.randint(0, 3, (24, 4), generator=generator).float()
    caption_to_image = torch.arange(8).repeat_interleave(3)[torch.randperm(24, generator=generator)]
    recall = fold_recall(images, texts, caption_to_image, (1, 2, 5))
    for k in (1, 2, 5):
        text, image = naive_recall(images, texts, caption_to_image.tolist(), k)
        assert recall[f"Retrieval_TR@{k}"] == pytest.approx(text)
        assert recall[f"Retrieval_IR@{k}"] == pytest.approx(image)


def test_five_fold_recall_is_the_mean_of_the_per_fold_values():
    generator = torch.Generator().manual_seed(1)
    images = torch.nn.functional.normalize(torch.randn(10, 8, generator=generator), dim=1)
    noise = 0.9 * torch.randn(50, 8, generator=generator)
    texts = torch.nn.functional.normalize(images.repeat_interleave(5, 0) + noise, dim=1)
    caption_to_image = torch.arange(10).repeat_interleave(5)
    folds = [fold_recall(images[2 * f:2 * f + 2], texts[10 * f:10 * f + 10],
                         caption_to_image[10 * f:10 * f + 10] - 2 * f, (1,)) for f in range(5)]
    five_fold = retrieval_recall(images, texts, caption_to_image, (1,), n_folds=5)
    for name in ("Retrieval_TR@1", "Retrieval_IR@1"):
        assert five_fold[name] == pytest.approx(sum(fold[name] for fold in folds) / 5)
    whole = retrieval_recall(images, texts, caption_to_image, (1,))
    assert whole != five_fold  # 2 images per fold are easier than 10: the protocol matters


def test_fold_bounds_are_consecutive_and_cover_every_image():
    assert fold_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert fold_bounds(5000, 5) == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000), (4000, 5000)]


def test_a_query_without_positive_is_refused():
    with pytest.raises(ValueError, match="positive"):
        positive_ranks(torch.zeros(2, 3), torch.tensor([[True, False, False], [False, False, False]]))


def test_mst_matrix_ut_acc_and_bwt_by_hand():
    a = {0: {0: 0.9, 1: 0.0, 2: 0.1}, 1: {0: 0.6, 1: 0.8, 2: 0.0}, 2: {0: 0.5, 1: 0.4, 2: 0.7}}
    first = {0: 0, 1: 1, 2: 2}
    assert [updated_task_accuracy(a[t], [i for i in first if first[i] <= t]) for t in range(3)] == pytest.approx(
        [0.9, 0.7, 1.6 / 3])
    # authors: (1/(t+1)) sum_{i<=t} (a[t][i] - a[i][i]); common: mean over i < t
    assert [backward_transfer(a, first, t) for t in range(3)] == pytest.approx([0.0, -0.3 / 2, -0.8 / 3])
    assert [backward_transfer(a, first, t, common=True) for t in range(3)] == pytest.approx([0.0, -0.3, -0.4])


def test_session_accuracy_is_the_mean_over_classes_with_samples():
    assert session_accuracy(torch.tensor([1.0, 0.0, 3.0]), torch.tensor([2.0, 0.0, 4.0])) == pytest.approx(0.625)
