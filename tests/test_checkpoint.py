"""The pieces of checkpointing: files with checksums, the data order, and each part of a run's state."""

import hashlib
import io
import logging
import random

import numpy as np
import pytest
import torch
from avalanche.evaluation.metrics import forgetting_metrics, loss_metrics

from avalanche_clip.checkpointing import (
    CheckpointFiles,
    avalanche_metric_state,
    load_optimizer_state,
    load_rng_state,
    optimizer_state,
    rng_state,
)
from avalanche_clip.training.sampling import SeededEpochSampler, derive_seed

# ----------------------------------------------------------------------------- files


def state(value: float) -> dict:
    return {"weights": torch.full((3, 4), value), "count": int(value), "names": ["a", "b"]}


def test_each_checkpoint_has_a_sha256sum_checksum_and_only_the_newest_are_kept(tmp_path):
    files = CheckpointFiles(tmp_path, keep=2)
    paths = [files.save(state(v)) for v in (1.0, 2.0, 3.0)]
    assert [p.name for p in paths] == ["ckpt-000001.pt", "ckpt-000002.pt", "ckpt-000003.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000002.pt", "ckpt-000002.pt.sha256", "ckpt-000003.pt", "ckpt-000003.pt.sha256"]
    digest = hashlib.sha256(paths[2].read_bytes()).hexdigest()
    assert (tmp_path / "ckpt-000003.pt.sha256").read_text() == f"{digest}  ckpt-000003.pt\n"
    loaded = files.load_latest()
    assert loaded.number == 3 and loaded.path == paths[2]
    assert torch.equal(loaded.state["weights"], torch.full((3, 4), 3.0)) and loaded.state["names"] == ["a", "b"]


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def drop_checksum(path):
    path.with_name(path.name + ".sha256").unlink()


@pytest.mark.parametrize("damage", [truncate, flip_a_byte, drop_checksum])
def test_a_damaged_newest_checkpoint_is_reported_set_aside_and_the_previous_one_used(tmp_path, caplog, damage):
    files = CheckpointFiles(tmp_path)
    files.save(state(1.0))
    newest = files.save(state(2.0))
    damage(newest)
    with caplog.at_level(logging.WARNING):
        loaded = files.load_latest()
    assert loaded.number == 1 and loaded.state["count"] == 1
    assert "ckpt-000002.pt is unusable" in caplog.text and "previous checkpoint is used" in caplog.text
    assert not newest.exists() and newest.with_name("ckpt-000002.pt.corrupt").exists()
    assert files.save(state(3.0)).name == "ckpt-000002.pt"  # numbering goes on; the corrupt file is never read


def test_the_temporary_file_of_an_interrupted_write_is_cleaned_up(tmp_path):
    files = CheckpointFiles(tmp_path)
    files.save(state(1.0))
    (tmp_path / ".ckpt-000002.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    assert files.load_latest().number == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000001.pt", "ckpt-000001.pt.sha256"]


def test_no_usable_checkpoint_is_none(tmp_path):
    files = CheckpointFiles(tmp_path / "absent")
    assert files.load_latest() is None
    files = CheckpointFiles(tmp_path)
    truncate(files.save(state(1.0)))
    assert files.load_latest() is None


def test_a_checkpoint_holding_arbitrary_objects_is_refused(tmp_path, caplog):
    files = CheckpointFiles(tmp_path)
    files.save({"callable": logging.getLogger})  # torch.save pickles it; weights_only loading refuses it
    with caplog.at_level(logging.WARNING):
        assert files.load_latest() is None
    assert "unusable" in caplog.text


# ------------------------------------------------------------------------ data order


def test_the_order_is_a_function_of_seed_experience_and_epoch():
    def order(seed, experience, epoch):
        sampler = SeededEpochSampler(50, seed=seed, experience=experience)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(1, 2, 3) == order(1, 2, 3) and sorted(order(1, 2, 3)) == list(range(50))
    assert len({tuple(order(*key)) for key in [(1, 2, 3), (2, 2, 3), (1, 3, 3), (1, 2, 4)]}) == 4


def test_skipping_starts_one_iteration_after_the_samples_done():
    sampler = SeededEpochSampler(10, seed=0, experience=0)
    full = list(sampler)
    sampler.skip(4)
    assert list(sampler) == full[4:]
    assert list(sampler) == full  # the skip applies to one iteration only


def test_shards_of_ranks_are_disjoint_and_cover_the_data():
    shards = [list(SeededEpochSampler(10, seed=0, experience=0, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    assert set().union(*shards) == set(range(10))
    assert sum(len(set(a) & set(b)) for i, a in enumerate(shards) for b in shards[i + 1:]) == 2  # the 2 padded
    assert list(SeededEpochSampler(5, seed=0, experience=0, shuffled=False)) == [0, 1, 2, 3, 4]


def test_worker_seeds_are_fixed_per_epoch():
    sampler = SeededEpochSampler(4, seed=7, experience=1)
    sampler.set_epoch(2)
    first = sampler.worker_generator.initial_seed()
    sampler.set_epoch(3)
    sampler.set_epoch(2)
    assert sampler.worker_generator.initial_seed() == first == derive_seed(7, "workers", 1, 2)


def test_derived_seeds_are_stable_across_versions_and_processes():
    # a change here changes every run's data order: old configs would no longer reproduce their results
    assert derive_seed(0, "data", 0, 0) == 3960935918689393120
    assert list(SeededEpochSampler(8, seed=0, experience=0)) == [2, 7, 6, 4, 0, 5, 3, 1]
    assert derive_seed(1, "data", 0, 0) != derive_seed(0, "data", 1, 0) != derive_seed(0, "data", 0, 1)
    assert 0 <= derive_seed("x", 3) < 2**63


# --------------------------------------------------------------------- state pieces


def test_rng_states_round_trip():
    saved = rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(2))
    load_rng_state(saved)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert draws[:2] == again[:2] and torch.equal(draws[2], again[2])


def test_optimizer_state_goes_back_by_parameter_name_whatever_the_order():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
    saved = optimizer_state(optimizer, model)
    assert set(saved["state"]) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    reordered = torch.optim.Adam(list(model.parameters())[::-1], lr=0.5)
    load_optimizer_state(reordered, model, saved)
    for name, parameter in model.named_parameters():
        assert torch.equal(reordered.state[parameter]["exp_avg"], optimizer.state[parameter]["exp_avg"]), name
    assert reordered.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="parameters differ from the checkpoint's: \\['0.bias'"):
        load_optimizer_state(torch.optim.Adam([model[0].weight, *model[1].parameters()]), model, saved)


class Batch:
    """What Avalanche's loss and forgetting metrics read from a strategy."""

    def __init__(self, loss, y, output):
        self.loss, self.mb_y, self.mb_output = loss, y, output


def round_trip(metric, fresh):
    """``fresh`` with ``metric``'s state, through the adapters and a checkpoint's weights-only file format."""
    buffer = io.BytesIO()
    torch.save(avalanche_metric_state(metric).state_dict(), buffer)
    buffer.seek(0)
    avalanche_metric_state(fresh).load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


def test_avalanche_metrics_without_state_dict_round_trip_mid_epoch_and_across_evaluations():
    epoch_loss = loss_metrics(epoch=True)[0]
    for loss in (1.0, 3.0):
        epoch_loss.update(Batch(torch.tensor(loss), torch.zeros(2), None))
    fresh = round_trip(epoch_loss, loss_metrics(epoch=True)[0])
    fresh.update(Batch(torch.tensor(5.0), torch.zeros(4), None))
    assert fresh.result() == pytest.approx((2 * 1 + 2 * 3 + 4 * 5) / 8)

    forgetting = forgetting_metrics(experience=True)[0]
    forgetting.update(0, 0.9, initial=True)
    forgetting.update(0, 0.6)
    forgetting.train_exp_id = 1
    forgetting._current_metric.update(torch.tensor([1, 0]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 0)
    copy = round_trip(forgetting, forgetting_metrics(experience=True)[0])
    assert copy.result() == pytest.approx({0: 0.3}) and copy.train_exp_id == 1
    assert copy._current_metric.result(0) == forgetting._current_metric.result(0) == {0: 1.0}
