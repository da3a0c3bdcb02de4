"""``pytest benches -n N``: the method shares, the GPU per worker, the merged session, and two
real two-worker sessions on the CPU (one clean, one with a worker killed mid-run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantbench.merge import merge_worker_sessions, merge_time, worker_lines
from quantbench.merge import worker_order
from quantbench.plugin import scheduling
from quantbench.plugin.scheduling import (DTYPE_WARMUP_S, EXPECTED_S, REFERENCE_EXTRA_S,
                                          MethodScheduling, method_costs, method_of, plan, split,
                                          worker_seconds)
from quantbench.plugin.gpus import GpuPool, gpu_problem, visible_gpus
from quantbench.results import CaseResult
from quantbench.session import Session
from session_runs import run_session

METHODS = ("fp16", "bf16", "nf4")
EVEN = {"fp16": 1.0, "bf16": 1.0, "nf4": 1.0}  # equal costs
TWO = {"fp16": 2.0, "bf16": 2.0, "nf4": 1.0}  # fp16 + nf4 (one dtype) against bf16 (another)
COLLECTION = [  # the plugin's order: eager before compiled, the reference method first
    "benches/test_generation.py::test_prefill[fp16-len128]",
    "benches/test_generation.py::test_generate[fp16-bs1-eager]",
    "benches/test_generation.py::test_prefill[bf16-len128]",
    "benches/test_generation.py::test_prefill[nf4-len128]",
    "benches/test_generation.py::test_generate[fp16-bs1-compiled]",
    "benches/test_generation.py::test_generate[bf16-bs1-compiled]",
    "benches/test_other.py::test_no_model",
]


class FakeNode:
    """What the scheduler uses of xdist's ``WorkerController``."""

    def __init__(self, worker_id: str) -> None:
        self.gateway = type("Gateway", (), {"id": worker_id})()
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def started(nodes: list[FakeNode]) -> MethodScheduling:
    sched = MethodScheduling(len(nodes), METHODS, costs=TWO)
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, COLLECTION)
    sched.schedule()
    return sched


def test_method_of_reads_the_method_from_the_test_id() -> None:
    assert method_of("b.py::test_generate[bf16-bs1-eager]", METHODS) == "bf16"
    assert method_of("b.py::test_generate[bs1-nf4]", METHODS) == "nf4"
    assert method_of("b.py::test_generate[int8-bs1]", METHODS) == ""
    assert method_of("b.py::test_no_model", METHODS) == ""
    assert sorted(["gw10", "gw2", "gw0"], key=worker_order) == ["gw0", "gw2", "gw10"]


def test_plan_keeps_each_method_on_one_worker_in_collection_order() -> None:
    first, second = plan(COLLECTION, METHODS, 2, {"fp16": 1.0, "bf16": 1.0, "nf4": 1.5})
    # fp16 and nf4 share a dtype's warm-up, bf16 has its own; the no-model case costs nothing
    assert first == [COLLECTION[i] for i in (0, 1, 3, 4, 6)]
    assert second == [COLLECTION[i] for i in (2, 5)]
    assert plan(COLLECTION, METHODS, 5, EVEN)[4] == []


def slowest(shares: dict[str, int], costs: dict[str, float], workers: int) -> float:
    held = [[m for m, w in shares.items() if w == i] for i in range(workers)]
    return max(worker_seconds(h, costs, "fp16") for h in held)


def test_a_workers_seconds_count_each_dtypes_warm_up_and_the_reference_load() -> None:
    costs = {"fp16": 10.0, "bf16": 20.0, "nf4": 5.0}
    assert worker_seconds(["fp16", "nf4"], costs, "fp16") == 15.0 + DTYPE_WARMUP_S  # one dtype
    assert worker_seconds(["fp16", "bf16"], costs, "fp16") == 30.0 + 2 * DTYPE_WARMUP_S
    assert worker_seconds(["nf4"], costs, "fp16") == 5.0 + DTYPE_WARMUP_S + REFERENCE_EXTRA_S
    assert worker_seconds(["nf4"], costs, None) == 5.0 + DTYPE_WARMUP_S  # no reference to load
    assert worker_seconds(["", "bf16"], costs, None) == 20.0 + DTYPE_WARMUP_S
    assert worker_seconds([""], costs, "fp16") == worker_seconds([], costs, "fp16") == 0.0


def test_the_default_methods_split_by_cost_not_round_robin() -> None:
    """One H200's default session: round-robin gave one worker FP16, INT8 and AWQ."""
    methods = ["fp16", "bf16", "int8", "nf4", "awq"]
    costs = method_costs(methods)
    assert costs == EXPECTED_S
    shares = split(methods, 2, costs, "fp16")
    assert shares == {"fp16": 0, "bf16": 0, "nf4": 0, "int8": 1, "awq": 1}
    round_robin = {m: i % 2 for i, m in enumerate(methods)}
    assert round(slowest(round_robin, costs, 2), 1) == 77.9  # fp16 + int8 + awq + one warm-up
    assert round(slowest(shares, costs, 2), 1) == 69.4  # int8 + awq + a warm-up + the reference
    assert round(worker_seconds(methods, costs, "fp16"), 1) == 117.0  # all on one GPU
    four = split(methods, 4, costs, "fp16")
    assert four["fp16"] == 0 and len(set(four.values())) == 4  # each worker has a method
    assert round(slowest(four, costs, 4), 1) == 51.4  # int8 alone: 32.0 + 12.2 + 7.2


def test_the_reference_goes_to_the_first_worker_and_greedy_takes_over_past_the_limit(
        monkeypatch) -> None:
    costs = {"a": 5.0, "b": 4.0, "c": 3.0, "fp16": 1.0}
    assert split(["a", "b", "c", "fp16"], 2, costs, "fp16")["fp16"] == 0
    assert split(["a", "b"], 2, costs)["a"] == 0  # no reference in the session: the first share
    monkeypatch.setattr(scheduling, "EXACT_LIMIT", 0)
    # longest first, each where the slowest worker grows least (worker 1 also pays the reference)
    assert split(["fp16", "a", "b", "c"], 2, costs, "fp16") == {"fp16": 0, "a": 0, "b": 0, "c": 1}


def test_costs_come_from_the_previous_session_when_it_timed_every_method(tmp_path) -> None:
    path = tmp_path / "session.json"
    previous = part("fp16")
    previous.time["per_method"] = {"fp16": {"load": 2.0, "measure": 6.0},
                                   "nf4": {"load": 1.0, "measure": 30.0, "note": "x"}}
    previous.write(path)
    assert method_costs(["fp16", "nf4"], path) == {"fp16": 8.0, "nf4": 31.0}
    previous.time["per_method"]["nf4"]["warmup"] = 12.0  # warm-up is the worker's, not the method's
    previous.write(path)
    assert method_costs(["fp16", "nf4"], path) == {"fp16": 8.0, "nf4": 31.0}
    median = sorted(EXPECTED_S.values())[2]
    assert method_costs(["fp16", "int4wo"], path) == {"fp16": 15.7, "int4wo": median}
    path.write_text("{not json")
    assert method_costs(["nf4"], path) == {"nf4": 12.9}
    assert method_costs(["nf4"], tmp_path / "missing.json") == {"nf4": 12.9}


def test_scheduler_sends_each_share_once_and_shuts_every_worker_down() -> None:
    gw1, gw0 = FakeNode("gw1"), FakeNode("gw0")  # ready in either order: the ids decide
    sched = started([gw1, gw0])
    assert gw0.sent == [0, 1, 3, 4, 6] and gw1.sent == [2, 5]
    assert gw0.shutting_down and gw1.shutting_down
    assert not sched.tests_finished  # each worker holds more than its last case
    for index in (0, 1, 3, 4):
        sched.mark_test_complete(gw0, index)
    sched.mark_test_complete(gw1, 2)
    assert sched.tests_finished and sched.has_pending
    sched.mark_test_complete(gw0, 6)
    sched.mark_test_complete(gw1, 5)
    assert not sched.has_pending
    assert sched.remove_node(gw0) is None and sched.nodes == [gw1]


def test_a_crashed_workers_unfinished_cases_go_to_its_replacement() -> None:
    gw0, gw1 = FakeNode("gw0"), FakeNode("gw1")
    sched = started([gw0, gw1])
    sched.mark_test_complete(gw0, 0)
    sched.mark_test_complete(gw0, 1)
    assert sched.remove_node(gw0) == COLLECTION[3]  # running when it died: xdist fails it
    assert not sched.tests_finished
    gw2 = FakeNode("gw2")
    sched.add_node(gw2)
    sched.schedule()  # still collecting: nothing yet
    assert gw2.sent == [] and not gw2.shutting_down
    sched.add_node_collection(gw2, COLLECTION)
    sched.schedule()
    assert gw2.sent == [4, 6] and gw2.shutting_down and gw1.sent == [2, 5]


def test_workers_get_distinct_gpus_and_a_replacement_reuses_a_freed_one() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}, lambda: 8) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, lambda: 8) == []
    assert visible_gpus({}, lambda: 2) == ["0", "1"]
    pool = GpuPool(["2", "3"])
    assert [pool.take("gw0"), pool.take("gw1")] == ["2", "3"]
    pool.give_back("gw1")
    assert pool.take("gw2") == "3" and pool.take("gw3") is None
    assert pool.assigned == {"gw0": "2", "gw1": "3", "gw2": "3", "gw3": None}


def test_more_workers_than_gpus_is_refused_in_one_line() -> None:
    assert gpu_problem("auto", ["0", "1"], 2) is None
    assert gpu_problem("auto", [], 4) is None  # no GPU: a CPU session
    assert gpu_problem("cpu", ["0"], 4) is None
    problem = gpu_problem("auto", ["0", "1"], 4)
    assert problem == ("quantbench: -n 4 starts 4 workers but this host shows 2 GPU(s) (0,1); "
                       "each worker needs a GPU of its own, so use -n 2 or -n auto")
    assert "shows 0 GPU(s) (none)" in gpu_problem("cuda", [], 2)


def part(method: str, *, partial: bool = False, wall: float = 10.0) -> Session:
    case = CaseResult("default", "eager", "generate-bs1", method, "float32", {}, ())
    time = {"wall_s": wall, "load_s": 2.0, "work_s": 6.0, "outside_s": 2.0, "outside_share": 0.25,
            "per_method": {method: {"load": 2.0, "measure": 6.0}}}
    return Session({"gpu": "H100", "model_source": "synthetic:x", "peak_copy_bandwidth_gbs": 3000.0},
                   {"name": "default"}, [case], partial, {}, {}, {method: 1}, [["load", method]], time)


def test_merge_keeps_every_workers_cases_and_sums_their_time() -> None:
    merged = merge_worker_sessions({"gw1": part("bf16"), "gw0": part("fp16")},
                            {"gw0": {"cuda_device": "0"}, "gw1": {"cuda_device": "1"}}, 11.0)
    assert [r.method for r in merged.results] == ["fp16", "bf16"]
    assert merged.partial is False and merged.loads == {"fp16": 1, "bf16": 1}
    assert merged.environment["workers"]["gw1"] == {
        "cuda_device": "1", "gpu": "H100", "peak_copy_bandwidth_gbs": 3000.0, "methods": ["bf16"],
        "cases": 1, "partial": False}
    assert merged.time["wall_s"] == 20.0 and merged.time["elapsed_s"] == 11.0
    assert merged.time["outside_share"] == pytest.approx(4.0 / 16.0)
    assert merged.time["per_method"]["bf16"] == {"load": 2.0, "measure": 6.0}
    assert worker_lines(merged)[0] == "worker gw0 (GPU 0): 1 cases of fp16"
    assert merge_time([], None)["per_method"] == {}


def test_a_crashed_worker_leaves_its_cases_and_marks_the_merge_partial() -> None:
    merged = merge_worker_sessions({"gw0": part("fp16"), "gw1": part("bf16", partial=True)},
                            {"gw1": {"cuda_device": "1", "crashed": "Not properly terminated"}})
    assert len(merged.results) == 2 and merged.partial is True
    assert worker_lines(merged)[1].endswith("crashed: Not properly terminated")
    assert merge_worker_sessions({}, {"gw0": {"crashed": "boom"}}) is None


FEW = ["--qb-methods", "fp16,bf16", "-k", "len128 or bs1 or quality", "--qb-device", "cpu"]  # -n on a CPU: asked for


def cases(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((r["method"], r["mode"], r["case"]) for r in data["results"])


@pytest.mark.session
def test_two_workers_one_merged_session_and_one_gate(cache_dir: Path, work: Path) -> None:
    session = run_session(cache_dir, work, "-n", "2", *FEW)
    assert session.code == 0, session.explain()
    data = session.data
    assert cases(data) == [(m, "eager", c) for m in ("bf16", "fp16")
                           for c in ("generate-bs1", "prefill-128", "quality")]
    workers = data["environment"]["workers"]
    assert {w: info["methods"] for w, info in workers.items()} == {"gw0": ["fp16"], "gw1": ["bf16"]}
    assert all(info["cases"] == 3 for info in workers.values()) and data["partial"] is False
    assert data["loads"] == {"fp16": 2, "bf16": 1}  # gw1 captured the quality reference itself
    bf16 = next(r for r in data["results"] if r["method"] == "bf16" and r["case"] == "quality")
    assert bf16["metrics"]["token_agreement"]["median"] == 1.0  # same reference as gw0's
    assert len(session.lines_with("gate: pass")) == 1, session.explain()
    (run,) = (session.report_dir / "workers").iterdir()  # this controller's own folder
    assert sorted(p.name for p in run.glob("*.json")) == ["gw0.json", "gw1.json"]


@pytest.mark.session
def test_a_killed_worker_keeps_its_cases_and_fails_the_session(cache_dir: Path, work: Path) -> None:
    session = run_session(cache_dir, work, "-n", "2", *FEW, "--qbt-die-at", "bf16-bs1")
    assert session.code == 1, session.explain()
    data = session.data
    assert data["partial"] is True
    assert ("bf16", "eager", "generate-bs1") not in cases(data)
    assert ("bf16", "eager", "prefill-128") in cases(data)  # finished before the kill
    assert ("bf16", "eager", "quality") in cases(data)  # ran on the replacement worker
    workers = data["environment"]["workers"]
    assert workers["gw1"]["crashed"] and workers["gw2"]["methods"] == ["bf16"]
    assert len(session.lines_with("gate: ")) == 1, session.explain()


@pytest.mark.session
def test_more_workers_than_visible_gpus_exits_at_once(cache_dir: Path, work: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    session = run_session(cache_dir, work, "-n", "2", "--qb-device", "cuda")
    assert session.code == 4, session.explain()
    assert len(session.lines_with("each worker needs a GPU of its own")) == 1, session.explain()
