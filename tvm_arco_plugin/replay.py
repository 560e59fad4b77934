"""Measurements answered from a recorded AutoTVM log, through AutoTVM's own Builder/Runner interface.

Every tuner then runs its real, unchanged ``tune()`` loop, deterministically and in milliseconds,
which is what the tests and the replay benchmark need.
"""
import logging
import time

from tvm.autotvm.measure import MeasureErrorNo, MeasureResult
from tvm.autotvm.measure.measure import Builder, Runner
from tvm.autotvm.measure.measure_methods import BuildResult

from .records import read_records

logger = logging.getLogger("autotvm")


class RecordedResults:
    """Config index -> recorded MeasureResult for one task, read from an AutoTVM log."""

    def __init__(self, results, task_name, task_args, target):
        self.results = results
        self.task_name, self.task_args, self.target = task_name, tuple(task_args), target

    @classmethod
    def from_log(cls, path, task=None):
        results, keys = {}, set()
        for inp, res in read_records(path):
            key = (inp.task.name, tuple(inp.task.args), str(inp.target))
            if task is not None and key[:2] != (task.name, tuple(task.args)):
                continue
            keys.add(key)
            previous = results.get(inp.config.index)
            # A config measured twice keeps its successful (then fastest) result.
            if previous is None or _better(res, previous):
                results[inp.config.index] = res
        if not keys:
            raise ValueError(f"{path}: no usable record" + (f" of task {task.name}{task.args}" if task else ""))
        if len(keys) > 1:
            raise ValueError(f"{path}: records of {len(keys)} different tasks/targets; replay needs one task per "
                             f"log (found e.g. {sorted(keys)[:2]})")
        name, args, target = keys.pop()
        return cls(results, name, args, target)

    def missing(self, space):
        return [i for i in range(space.range_length) if space.is_index_valid(i) and i not in self.results]


def _better(new, old):
    if new.error_no != 0:
        return False
    return old.error_no != 0 or min(new.costs) < min(old.costs)


class ReplayBuilder(Builder):
    """Builds nothing: the recorded result already says what building and running gave."""

    def build(self, measure_inputs):
        return [BuildResult(None, None, None, 0.0) for _ in measure_inputs]


class ReplayRunner(Runner):
    def __init__(self, recorded: RecordedResults, n_parallel=8, on_missing="error"):
        super().__init__(timeout=1, n_parallel=n_parallel)
        self.recorded = recorded
        self.on_missing = on_missing
        self.requests = []  # every config index asked for, in order (what tests and benchmarks inspect)

    def get_build_kwargs(self):
        return {}

    def run(self, measure_inputs, build_results):
        out = []
        for inp in measure_inputs:
            self.requests.append(inp.config.index)
            res = self.recorded.results.get(inp.config.index)
            if res is None:
                out.append(error_result(f"config {inp.config.index} is not in the recorded log",
                                        MeasureErrorNo.UNKNOWN_ERROR))
            elif res.error_no != 0:
                # Tuner.tune unpacks an error's costs as (traceback, exception); a decoded log keeps (1e9,).
                out.append(error_result(f"recorded error (error_no {res.error_no})", res.error_no))
            else:
                out.append(MeasureResult(res.costs, 0, res.all_cost, time.time()))
        return out


def error_result(message, error_no):
    return MeasureResult(("replayed", RuntimeError(message)), int(error_no), 0.0, time.time())


def replay_option(recorded, n_parallel=8):
    """An AutoTVM ``measure_option`` answering from ``recorded``; its runner keeps the requests made."""
    return {"builder": ReplayBuilder(n_parallel=n_parallel), "runner": ReplayRunner(recorded, n_parallel)}


def replay_measure_option(log_path, task=None, n_parallel=8):
    return replay_option(RecordedResults.from_log(log_path, task), n_parallel)
