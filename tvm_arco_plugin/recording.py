"""Measure every configuration of a task's space into a standard AutoTVM log (resumable).

Used to build the recorded spaces that replay benchmarks and deterministic tests run on.
"""
import logging
import os

from tvm import autotvm

from .records import read_records

logger = logging.getLogger("autotvm")


class _EnumerateTuner(autotvm.tuner.Tuner):
    """Proposes every valid index not yet in ``done``, in index order."""

    def __init__(self, task, done):
        super().__init__(task)
        self.todo = [i for i in range(self.space.range_length) if self.space.is_index_valid(i) and i not in done]
        self.pos = 0

    def has_next(self):
        return self.pos < len(self.todo)

    def next_batch(self, batch_size):
        batch = self.todo[self.pos:self.pos + batch_size]
        self.pos += len(batch)
        return [self.space.get(i) for i in batch]

    def update(self, inputs, results):
        pass


def recorded_indexes(task, log_path):
    """Config indexes of ``task`` already measured in ``log_path``.

    ValueError (one line) when the log holds this task's records for another target (another CPU):
    one recorded space holds one machine's timings."""
    if not os.path.exists(log_path):
        return set()
    mine = [inp for inp, _ in read_records(log_path)
            if inp.task.name == task.name and tuple(inp.task.args) == tuple(task.args)]
    others = sorted({str(inp.target) for inp in mine} - {str(task.target)})
    if others:
        raise ValueError(f"{log_path} holds records of this task for target {others[0]!r}, and this machine's "
                         f"is {str(task.target)!r}: their timings are not comparable; record into another log")
    return {inp.config.index for inp in mine}


def record_space(task, log_path, measure_option, callbacks=()):
    """Measure all configs of ``task`` missing from ``log_path`` (an interrupted recording resumes)."""
    done = recorded_indexes(task, log_path)
    tuner = _EnumerateTuner(task, done)
    n_todo = len(tuner.todo)
    logger.info("recording %s: %d configs already in %s, %d to measure", task.name, len(done), log_path, n_todo)
    if n_todo:
        tuner.tune(n_trial=n_todo, measure_option=measure_option,
                   callbacks=[autotvm.callback.log_to_file(log_path), *callbacks])
    return n_todo
