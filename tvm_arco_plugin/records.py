"""Reading AutoTVM logs without losing a run to one bad line.

``autotvm.record.load_from_file`` raises on the first corrupt or truncated line (a run killed while
writing leaves one). ``read_records`` decodes with AutoTVM's own ``record.decode`` and skips every
line it cannot decode with one warning naming the file and line.
"""
import logging

from tvm.autotvm import record

logger = logging.getLogger("autotvm")


def read_records(path):
    """Yield ``(MeasureInput, MeasureResult)`` of every decodable line of an AutoTVM JSON log."""
    with open(path, encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                decoded = record.decode(text)
            except Exception as err:  # pylint: disable=broad-except
                decoded, reason = None, f"{type(err).__name__}: {err}"
            else:
                reason = "not an AutoTVM v0.2 record"
            if decoded is None or not _well_formed(decoded):
                logger.warning("%s:%d: skipping unreadable log line (%s)", path, number, str(reason)[:200])
                continue
            yield decoded


def _well_formed(decoded):
    inp, res = decoded
    return (inp is not None and res is not None and isinstance(getattr(inp.config, "index", None), int)
            and isinstance(res.costs, (tuple, list)) and len(res.costs) > 0)


def task_key(task, target=None):
    return task.name, tuple(task.args), str(target if target is not None else task.target)


def records_of_tasks(records, tasks, source="log"):
    """The records that belong to one of ``tasks`` (same template, arguments and target); every other
    record is skipped with one warning."""
    keys = {task_key(task) for task in tasks}
    kept = []
    for inp, res in records:
        if task_key(inp.task, inp.target) in keys:
            kept.append((inp, res))
        else:
            logger.warning("%s: skipping a record of %s%s for %s: not a task being tuned", source, inp.task.name,
                           tuple(inp.task.args), inp.target)
    return kept
