"""Local workers: which GPU each gets (started with CUDA_VISIBLE_DEVICES set to it), threads, the allocator."""
import os
import subprocess
import sys

import pytest

from running.cluster import start_local_cluster, threads_per_worker, worker_gpus
from conftest import REPO_ROOT
from running.job_runner import prepare_worker
from prepare_data import DataPreparationError


@pytest.mark.parametrize("n_workers,gpus,per_gpu,expected", [
    (None, ["0", "1"], None, ["0", "1"]),  # one worker per GPU by default
    (None, ["0"], 4, ["0", "0", "0", "0"]),  # --workers_per_gpu 4: four small networks share the GPU
    (None, ["2", "5"], 2, ["2", "2", "5", "5"]),  # the GPUs CUDA_VISIBLE_DEVICES lists, in order
    (3, ["0", "1"], None, ["0", "1", "0"]),  # more workers than GPUs: round again
    (2, [], None, [None, None]),  # no GPU: CPU workers
    (None, [], 4, [None]),
])
def test_local_workers_are_spread_over_the_gpus(n_workers, gpus, per_gpu, expected):
    assert worker_gpus(n_workers, gpus, per_gpu) == expected


def test_the_cores_are_shared_among_local_workers_unless_threads_are_given():
    cores = os.cpu_count()
    assert threads_per_worker({"n_workers": 2, "device": "cpu"}, None) == max(1, cores // 2)
    assert threads_per_worker({"n_workers": 2, "device": "cpu"}, 3) == 3
    assert threads_per_worker({"scheduler_address": "tcp://127.0.0.1:1"}, None) == cores


def test_each_local_worker_starts_with_its_gpu_visible():
    from dask.distributed import Client

    with start_local_cluster(["7", "3"]) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        seen = client.run(os.getenv, "CUDA_VISIBLE_DEVICES")  # os.getenv travels by name: the worker's own
        names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
    assert {names[address]: gpu for address, gpu in seen.items()} == {0: "7", 1: "3"}


@pytest.mark.parametrize("environment,undone", [({"MALLOC_TRIM_THRESHOLD_": "65536"}, "True"), ({}, "False")])
def test_a_worker_undoes_the_malloc_trim_threshold_dask_starts_it_with(environment, undone):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    code = "from running import job_runner; print(job_runner.undo_malloc_trim())"
    done = subprocess.run([sys.executable, "-c", code],
                          env={**env, **environment, "PYTHONPATH": str(REPO_ROOT / "src")}, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == undone, done.stderr[-2000:]


def test_a_worker_that_cannot_see_the_data_says_so(tmp_path):
    with pytest.raises(DataPreparationError, match="a worker on .* cannot use the data: .*no train/ folder"):
        prepare_worker(str(tmp_path / "elsewhere"), seed=0, max_budget=1, device="cpu", threads=1)
