"""torch.distributed: shards, their reassembly, the session, and two gloo processes against one.

The end-to-end test launches ``torchrun --nproc_per_node=2`` (gloo, CPU) on tests/distributed_run.py
with a batch size of 5 per process, and runs the same script in this process with a batch size of
10. What must match, and why:

- The N processes' batch k together is the single process's batch k (the same seeded
  permutation, see ``avalanche_clip.distributed.sharding``), and DDP averages the per-process
  mean losses' gradients, which is the gradient of the global batch's mean. So the two runs take
  the same steps up to float summation order (~1e-7). VR-LwF draws the same pseudo sentences at
  every step on every process, and as the single process.
- Evaluation of the same weights sees every sample exactly once (the padding of the shards is
  dropped), so the accuracies, recalls, UT-Acc and BWT are equal, exactly; an eval loss is a mean
  over differently grouped batches, equal within 1e-6.
- The weights after training agree within 1e-4 (a tenth of one Adam step at lr 1e-3), except the
  attention key biases: their gradient is zero in exact arithmetic (a softmax ignores a shift of
  all its logits), so Adam turns rounding noise of ~1e-10 into steps of ~lr in both runs.
- MTIL (ZSCL on the world's CLIP, two tasks with their own vocabularies): the accuracy matrix,
  Transfer, Avg and Last in results.json and metrics.csv are equal, exactly. ZSCL's processes
  distil on their slices of one draw of reference images, together the single process's batch
  (its text→image term, a softmax over each process's own slice, is off: see distributed_run).
- Training-phase running values (``Loss_Epoch/train_phase``) are the main process's own batches:
  not compared.
Across the two processes the parameters are identical, bit for bit, after every session, also
with RKR rectifiers and mode-IMM (whose Fishers are averaged over the processes), in a run of 8
iterations that cuts its second epoch short (both processes take exactly 8 steps).
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import distributed_run
from avalanche_clip.benchmarks import ost_benchmark
from avalanche_clip.distributed import (
    TORCHRUN_VARIABLES,
    average_across_ranks,
    batch_rows,
    call_on_main,
    gather_shards,
    init_distributed,
    interleave_shards,
    process_device,
    shard_sampler,
)
from avalanche_clip.training import CLIPStrategy
from conftest import CLASS_NAMES


def shards(length: int, world_size: int, **kwargs) -> list[list[int]]:
    """Every rank's indices of ``shard_sampler``."""
    return [list(shard_sampler(range(length), num_replicas=world_size, rank=rank, **kwargs))
            for rank in range(world_size)]


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_gathered_batches_are_the_dataset_in_order_once(world_size):
    for length in range(1, 12):
        ranks = shards(length, world_size)
        assert len({len(indices) for indices in ranks}) == 1  # the same number of batches everywhere
        for batch_size in (1, 2, 3, 5):
            gathered, position = [], 0
            while position < len(ranks[0]):
                parts = [torch.tensor(indices[position:position + batch_size]) for indices in ranks]
                keep = batch_rows(len(parts[0]), position, length, world_size)
                gathered += interleave_shards(parts, keep).tolist()
                position += len(parts[0])
            assert gathered == list(range(length)), (length, batch_size)
        whole = interleave_shards([torch.tensor(indices) for indices in ranks], length)
        assert whole.tolist() == list(range(length))


@pytest.mark.parametrize("world_size", [2, 3])
def test_the_processes_batches_together_are_the_single_process_batches(world_size):
    length, batch_size = 36, 4  # 36 divides among 2 and 3 processes: no sample repeated
    for epoch in (0, 1):
        single = shard_sampler(range(length), shuffle=True, seed=5, num_replicas=1, rank=0)
        single.set_epoch(epoch)
        order = list(single)
        samplers = [shard_sampler(range(length), shuffle=True, seed=5, num_replicas=world_size, rank=rank)
                    for rank in range(world_size)]
        for sampler in samplers:
            sampler.set_epoch(epoch)
        ranks = [list(sampler) for sampler in samplers]
        big = world_size * batch_size
        for k in range(length // big):
            together = sorted(i for indices in ranks for i in indices[k * batch_size:(k + 1) * batch_size])
            assert together == sorted(order[k * big:(k + 1) * big])


def test_the_training_order_is_a_function_of_seed_and_epoch():
    def order(seed, epoch):
        sampler = shard_sampler(range(20), shuffle=True, seed=seed)  # one process
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(5, 0) == order(5, 0) and sorted(order(5, 0)) == list(range(20))
    assert order(5, 0) != order(5, 1) and order(5, 0) != order(6, 0)


def test_the_strategy_reads_its_training_data_in_an_order_fixed_by_its_seed(make_model, generated):
    experience = ost_benchmark(*generated, CLASS_NAMES).train_stream[0]

    def first_epoch_labels(seed, epoch=0):
        model = make_model()
        strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                train_mb_size=8, seed=seed, evaluator=None)
        strategy.adapted_dataset = experience.dataset.train()
        strategy.make_train_dataloader()
        strategy.dataloader.sampler.set_epoch(epoch)
        return torch.cat([batch[1] for batch in strategy.dataloader]).tolist()

    assert first_epoch_labels(1) == first_epoch_labels(1)
    assert first_epoch_labels(1) != first_epoch_labels(2)
    assert first_epoch_labels(1) != first_epoch_labels(1, epoch=1)
    assert sorted(first_epoch_labels(1)) == sorted(generated[0].targets)


def test_outside_torchrun_nothing_is_distributed(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert init_distributed("cpu") == torch.device("cpu") and not torch.distributed.is_initialized()
    assert call_on_main(lambda x: x + 1, 41) == 42
    features = torch.arange(12.0).reshape(6, 2)
    assert torch.equal(gather_shards(features, 4), features[:4])
    assert torch.equal(average_across_ranks({"w": features})["w"], features)
    assert shard_sampler(range(5)).num_replicas == 1
    with pytest.raises(KeyError, match="boom"):
        call_on_main(lambda: {}["boom"])


def test_under_torchrun_each_process_takes_the_gpu_of_its_local_rank(monkeypatch):
    for name, value in zip(TORCHRUN_VARIABLES, ("3", "4", "1", "127.0.0.1", "29500")):
        monkeypatch.setenv(name, value)
    assert process_device("cuda") == torch.device("cuda", 1)
    assert process_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device=.cuda:0. names one GPU.*cuda:LOCAL_RANK"):
        process_device("cuda:0")


def metric_rows(run_dir: Path) -> dict[tuple[str, str, str], float]:
    """``metrics.csv`` as ``{(name, experience, step): value}``, refusing duplicate rows."""
    rows = {}
    with open(run_dir / "metrics.csv", newline="") as file:
        for row in csv.DictReader(file):
            key = (row["name"], row["experience"], row["step"])
            assert key not in rows, f"{key} logged twice: more than one process wrote {run_dir}"
            rows[key] = float(row["value"])
    return rows


def is_attention_key_bias(name: str, index: int, width: int) -> bool:
    """Whether element ``index`` of parameter ``name`` is a key bias of ``nn.MultiheadAttention``."""
    return name.endswith("attn.in_proj_bias") and width <= index < 2 * width


COMPARED = ("vrlwf", "mtil")
"""The scenarios also run in one process."""

EVALUATED = {
    "vrlwf": {"Retrieval_TR@1/", "ZeroShot_Top1_Acc/", "UT_Session_Acc/"},
    "mtil": {"MTIL_Acc/", "MTIL_Transfer/", "MTIL_Avg/", "MTIL_Last/"},
}
"""Per compared scenario, metrics its evaluations must have logged."""


def test_two_gloo_processes_train_and_measure_as_one(tmp_path):
    script = Path(distributed_run.__file__)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               str(tmp_path / "two"), "--batch_size", "5"]
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    launched = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    try:  # the single-process references, while the two processes start
        distributed_run.main(str(tmp_path / "one"), batch_size=10, scenarios=COMPARED)
        output, _ = launched.communicate(timeout=300)
    finally:
        launched.kill()
    assert launched.returncode == 0, output[-5000:]

    for scenario in distributed_run.SCENARIOS:
        ranks = [json.loads((tmp_path / "two" / scenario / f"rank{r}.json").read_text()) for r in (0, 1)]
        assert len(ranks[0]["sessions"]) == {"vrlwf": 2, "rkr": 1, "mtil": 2}[scenario]
        assert ranks[0]["iterations"] == ranks[1]["iterations"] == {"vrlwf": 6, "rkr": 8, "mtil": 3}[scenario]
        assert ranks[0]["sessions"] == ranks[1]["sessions"], f"{scenario}: the processes' weights differ"
        assert ranks[0]["steps"] == ranks[1]["steps"], f"{scenario}: the pseudo sentences differ"
        assert ranks[0]["results"] == ranks[1]["results"]
        run_dir = tmp_path / "two" / scenario / "run"
        assert len(list((run_dir / "tb").iterdir())) == 1  # one TensorBoard writer, the main process's
        assert ranks[0]["results"] == json.loads((run_dir / "results.json").read_text())
        metric_rows(run_dir)

    for scenario in COMPARED:
        check_one_and_two_processes_agree(tmp_path / "two" / scenario, tmp_path / "one" / scenario)
    ranks, single = (json.loads((tmp_path / run / "vrlwf" / "rank0.json").read_text()) for run in ("two", "one"))
    assert len(single["steps"]) == 6 and ranks["steps"] == single["steps"]  # the same pseudo vocabulary per step
    mtil = json.loads((tmp_path / "one" / "mtil" / "rank0.json").read_text())["results"]["mtil"]["test_stream"]
    assert mtil["datasets"] == ["crops", "colours"] and len(mtil["after"]) == 2
    assert mtil["after"][0][0] != mtil["original"][0]  # training moved an accuracy: the matrix is not constant


def check_one_and_two_processes_agree(two: Path, one: Path) -> None:
    """The same files, evaluation metrics (losses within 1e-6) and MTIL results; weights within 1e-4.

    Losses within 1e-6 relative or absolute: the world's CLIP fits a task to losses ~1e-3, where
    the trained weights' ~1e-7 differences, through a logit scale of ~100, move the loss by ~1e-8.
    """
    assert sorted(p.name for p in (two / "run").iterdir()) == sorted(p.name for p in (one / "run").iterdir())
    two_rows, one_rows = metric_rows(two / "run"), metric_rows(one / "run")
    assert two_rows.keys() == one_rows.keys()
    evaluated = [key for key in one_rows if "/eval_phase/" in key[0]]
    assert {key[1] for key in evaluated} == {"-1", "0", "1"}  # the original model and both sessions (tasks)
    expected = EVALUATED[two.name]
    assert {prefix for prefix in expected if any(name.startswith(prefix) for name, _, _ in evaluated)} == expected
    for key in evaluated:
        if key[0].startswith("Loss_"):
            assert two_rows[key] == pytest.approx(one_rows[key], rel=1e-6, abs=1e-6), key
        else:
            assert two_rows[key] == one_rows[key], key
    results = [json.loads((run / "run" / "results.json").read_text()) for run in (two, one)]
    assert results[0].get("mtil") == results[1].get("mtil")  # the MTIL matrix, Transfer, Avg and Last

    trained = torch.load(two / "rank0_state.pt"), torch.load(one / "rank0_state.pt")
    width = trained[1]["clip.transformer.resblocks.0.attn.out_proj.weight"].shape[0]
    for name, reference in trained[1].items():
        difference = (trained[0][name].float() - reference.float()).abs().flatten()
        for index in (difference > 1e-4).nonzero().flatten().tolist():
            assert is_attention_key_bias(name, index, width), (name, index, difference[index].item())
