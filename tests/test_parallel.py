"""The search on Dask workers: a real LocalCluster, a running dask scheduler with workers, deadlines and resume
(the asynchronous optimizer itself is tested with a fake target in test_EA.py)."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO_ROOT, make_image_folder
from running.run_log import read_record


def search_command(data, out, max_size, max_time, max_budget, *extra):
    """AutoML.py on a small generated dataset with a small population, quiet, and the given extra flags."""
    return [sys.executable, "src/AutoML.py", "--constraint_max_model_size", max_size, "--constraint_min_precision",
            "0.1", "--max_time", max_time, "--max_budget", max_budget, "--pop_size", "4", "--data_dir", str(data),
            "--output_dir", str(out), "--quiet", *extra]


def test_search_on_a_local_cluster_of_two_processes(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    done = subprocess.run(search_command(data, out, "2e4", "20", "9", "--n_workers", "2"), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(next(out.glob("automl_run_*.json")).read_text())
    evaluations = run["evaluations"]
    assert len({e["job"] for e in evaluations}) == len(evaluations) >= 4  # every job told once
    workers = {e["worker"]["pid"] for e in evaluations}
    assert len(workers) == 2
    spans = sorted((e["worker"]["start"], e["worker"]["end"], e["worker"]["pid"]) for e in evaluations)
    assert any(a[1] > b[0] and a[2] != b[2] for a, b in zip(spans, spans[1:]))  # the two workers overlap in time
    assert run["best"]["constraints_met"] and max(e["time"] for e in evaluations) <= 20


def test_an_unreachable_scheduler_is_one_line_exit_2(tiny_data, tmp_path):
    done = subprocess.run([sys.executable, "src/AutoML.py", "--constraint_max_model_size", "2e4",
                           "--constraint_min_precision", "0.1", "--max_time", "20", "--data_dir", str(tiny_data),
                           "--output_dir", str(tmp_path), "--scheduler_address", "tcp://127.0.0.1:9",
                           "--connect_timeout", "2"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "no Dask worker reachable" in lines[-1] and "Traceback" not in done.stderr


def descendants(pid):
    """Process ids below pid (from /proc: no extra dependency)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def worker_pids(pid):
    def cmdline(p):
        try:
            return (Path("/proc") / str(p) / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return ""
    return [p for p in descendants(pid) if "spawn_main" in cmdline(p) and "resource_tracker" not in cmdline(p)]


def test_a_worker_killed_mid_job_is_a_crashed_job_and_the_run_goes_on(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=30, size=16)
    out = tmp_path / "out"
    search = subprocess.Popen(search_command(data, out, "2e5", "25", "20", "--n_workers", "2"), cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        while not list(out.glob("automl_run_*.json")) and time.monotonic() - started < 120:
            time.sleep(0.2)
        time.sleep(0.5)
        victims = worker_pids(search.pid)
        assert victims, "no worker process found"
        os.kill(victims[0], signal.SIGKILL)
        _, stderr = search.communicate(timeout=180)
    finally:
        search.kill()
    assert search.returncode in (0, 3), stderr[-2000:]
    run = json.loads(next(out.glob("automl_run_*.json")).read_text())
    statuses = [e["status"] for e in run["evaluations"]]
    assert "crashed" in statuses and "ok" in statuses and run["finished"]
    assert len({e["job"] for e in run["evaluations"]}) == len(statuses)


@contextlib.contextmanager
def dask_cluster(tmp_path, scheduler_env, workers=2):
    """A `dask scheduler` and `dask worker`s started as README.md shows (in the repository, PYTHONPATH=src for the
    workers; for the scheduler as scheduler_env says), stopped on leaving; yields the scheduler file."""
    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    env.pop("PYTHONPATH", None)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": REPO_ROOT}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], env={**env, **scheduler_env}, **quiet)]
    try:
        started = time.monotonic()
        while not scheduler_file.exists() and time.monotonic() - started < 60:
            time.sleep(0.2)
        for _ in range(workers):
            processes.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads",
                                               "1", "--no-dashboard", "--host", "127.0.0.1"],
                                              env={**env, "PYTHONPATH": "src"}, **quiet))
        yield scheduler_file
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_search_on_a_running_dask_scheduler_with_two_workers(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    with dask_cluster(tmp_path, {"PYTHONPATH": "src"}) as scheduler_file:
        done = subprocess.run(search_command(data, out, "2e4", "20", "9", "--scheduler_file", str(scheduler_file),
                                             "--connect_timeout", "60", "--threads", "1"),
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    evaluations = json.loads(next(out.glob("automl_run_*.json")).read_text())["evaluations"]
    assert len({e["worker"]["pid"] for e in evaluations}) == 2
    assert len({e["job"] for e in evaluations}) == len(evaluations) >= 4


def test_a_scheduler_that_cannot_import_the_code_is_one_line_exit_2(tmp_path, tiny_data):
    with dask_cluster(tmp_path, {}, workers=1) as scheduler_file:
        done = subprocess.run(search_command(tiny_data, tmp_path / "out", "2e4", "20", "9", "--scheduler_file",
                                             str(scheduler_file), "--connect_timeout", "60"),
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "PYTHONPATH=src dask scheduler" in lines[-1] and "Traceback" not in done.stderr


def test_driver_killed_with_jobs_in_flight_then_resumed(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=20, size=16)
    out = tmp_path / "out"
    search = subprocess.Popen(search_command(data, out, "2e5", "40", "9", "--n_workers", "2"), cwd=REPO_ROOT,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        started = time.monotonic()
        record = {}
        while len(record.get("evaluations", [])) < 3 and time.monotonic() - started < 120:
            time.sleep(0.3)
            path = next(out.glob("automl_run_*.json"), None)
            record = read_record(path) if path else {}
    finally:
        os.killpg(search.pid, signal.SIGKILL)  # the driver and its workers, as a crash of the machine would
        search.wait()
    before = read_record(path)  # the run file as written at the first ask, and the journal since
    told = {e["tell"] for e in before["events"] if "tell" in e}
    in_flight = [e["ask"] for e in before["events"] if "ask" in e and e["ask"] not in told]
    assert in_flight, "the driver was killed with no job in flight"
    done = subprocess.run([sys.executable, "src/AutoML.py", "--resume", str(path), "--quiet"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    after = json.loads(path.read_text())
    assert after["evaluations"][:len(before["evaluations"])] == before["evaluations"]
    jobs = [e["job"] for e in after["evaluations"]]
    assert len(jobs) == len(set(jobs)) and set(in_flight) <= set(jobs)


def test_the_run_ends_at_the_deadline_whatever_the_workers_do(tmp_path):
    """One worker frozen (SIGSTOP) mid-job, the other busy: the run still ends at --max_time, the frozen job is
    cancelled and left unrecorded (asked, never told), and the driver exits."""
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=30, size=16)
    out = tmp_path / "out"
    search = subprocess.Popen(search_command(data, out, "2e5", "15", "30", "--n_workers", "2"), cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frozen = []
    try:
        started = time.monotonic()
        while not list(out.glob("automl_run_*.json")) and time.monotonic() - started < 120:
            time.sleep(0.2)
        frozen = worker_pids(search.pid)[:1]
        assert frozen, "no worker process found"
        os.kill(frozen[0], signal.SIGSTOP)
        while search.poll() is None and time.monotonic() - started < 120:
            time.sleep(0.5)
            if json.loads(next(out.glob("automl_run_*.json")).read_text())["finished"]:
                with contextlib.suppress(ProcessLookupError):  # the run is over: let the cluster close quickly
                    os.kill(frozen[0], signal.SIGCONT)
        _, stderr = search.communicate(timeout=120)
    finally:
        search.kill()
        for pid in frozen:  # if the driver's cluster has not stopped it already
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert search.returncode in (0, 3), stderr[-2000:]
    run = json.loads(next(out.glob("automl_run_*.json")).read_text())
    assert run["finished"] and max(e["time"] for e in run["evaluations"]) <= 15 + 5 + 2
    told = {e["tell"] for e in run["events"] if "tell" in e}
    never_told = [e["ask"] for e in run["events"] if "ask" in e and e["ask"] not in told]
    assert never_told, "the frozen job was told"  # cut off, it measured nothing: a resumed run runs it again
    assert all(e["status"] != "stopped" for e in run["evaluations"])
    assert len({e["job"] for e in run["evaluations"]}) == len(run["evaluations"])
