"""Compose methods in code: VR-LwF and mode-IMM together, beside Avalanche's own metrics.

Everything the runner does, written out: the world's CLIP and data, an MST benchmark, two
method plugins in one CLIPStrategy, Avalanche's accuracy and forgetting next to zero-shot,
retrieval and updated-task metrics, and the run's files (results.json, metrics.csv, TensorBoard,
the report's tables and plots).

    python examples/compose.py                      # the embedded world: CPU, no download
    python examples/compose.py --help
    torchrun --nproc_per_node=2 examples/compose.py --device cpu   # 2 processes (gloo); 'cuda': NCCL
"""

import logging

import torch
from avalanche.distributed import DistributedHelper
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
from avalanche.logging import InteractiveLogger, TensorboardLogger
from avalanche.training.plugins import EvaluationPlugin
from jsonargparse import auto_cli

from avalanche_clip.benchmarks import mst_benchmark, world
from avalanche_clip.distributed import init_distributed
from avalanche_clip.evaluation import retrieval_metrics, updated_task_metrics, zeroshot_metrics
from avalanche_clip.results import ResultsLogger, RunInfo, write_report
from avalanche_clip.training import CLIPStrategy, IMMPlugin, VRLwFPlugin


def main(output_dir: str = "runs/compose", sessions: int = 4, epochs: int = 2, lr: float = 1e-4,
         batch_size: int = 32, alpha: float = 1.0, seed: int = 0, device: str = "cpu") -> None:
    """VR-LwF + mode-IMM over MST on the embedded world.

    Args:
        output_dir: the run directory (must not hold another run's results).
        sessions: MST sessions.
        epochs: epochs per session.
        lr: Adam learning rate.
        batch_size: training batch size (of each process, under torchrun).
        alpha: VR-LwF's weight.
        seed: seeds initialisation, data order and pseudo sentences.
        device: ``cpu`` or ``cuda`` (under torchrun each process takes cuda:LOCAL_RANK).
    """
    device = init_distributed(device)  # joins torchrun's process group, if launched by torchrun
    main_process = DistributedHelper.is_main_process
    torch.manual_seed(seed)
    model, data = world.load(device=device)
    benchmark = mst_benchmark(data.train, data.test, data.class_names, n_sessions=sessions,
                              train_transform=data.train_transform, eval_transform=data.eval_transform)
    run_info = RunInfo(method="VR-LwF+IMM(mode)", variant=model.update, protocol="MST", seed=seed)
    loggers = []  # Avalanche's loggers exist on the main process only
    if main_process:
        loggers = [InteractiveLogger(), TensorboardLogger(f"{output_dir}/tb"),
                   ResultsLogger(output_dir, run_info=run_info)]
    evaluator = EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True),
        forgetting_metrics(experience=True),
        zeroshot_metrics(data.zeroshot),
        retrieval_metrics(data.retrieval, folds=data.retrieval_folds),
        updated_task_metrics(),
        loggers=loggers,
    )
    strategy = CLIPStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        train_mb_size=batch_size,
        train_epochs=epochs,
        plugins=[VRLwFPlugin(alpha=alpha, seed=seed), IMMPlugin(mode="mode")],
        evaluator=evaluator,
        device=device,
        seed=seed,
    )
    strategy.eval(benchmark.test_stream)  # the original model's UT-Acc
    for session in benchmark.train_stream:
        strategy.train(session)
        strategy.eval(benchmark.test_stream)
    if main_process:
        files = write_report([output_dir], f"{output_dir}/report")
        logging.getLogger(__name__).info("Results: %s/results.json; tables: %s", output_dir, files.markdown)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    auto_cli(main)
