"""Reading AutoTVM logs without losing a run to one bad line, and keeping them readable.

``autotvm.record.load_from_file`` (and with it ``autotvm.apply_history_best``) raises on the first
corrupt, truncated or blank line; a run killed while writing leaves a half line behind.
``read_records`` decodes with AutoTVM's own ``record.decode`` and skips every line it cannot decode
with one warning naming the file and line. ``repair_log`` rewrites a log so that AutoTVM's reader
accepts it again, keeping what it removes in a side file.
"""
import logging
import numbers
import os
import tempfile

from tvm.autotvm import record
from tvm.autotvm.measure import MeasureErrorNo

logger = logging.getLogger("autotvm")

# Failures of the measuring infrastructure rather than of the config: a timeout, an RPC session that
# broke (RUNTIME_DEVICE is also what a dead RPC server gives), a runner that raised. A resumed run
# measures such configs again; compile errors and wrong answers stay settled.
RETRYABLE_ERRORS = frozenset({MeasureErrorNo.RUNTIME_DEVICE, MeasureErrorNo.BUILD_TIMEOUT,
                              MeasureErrorNo.RUN_TIMEOUT, MeasureErrorNo.UNKNOWN_ERROR})
# A config that failed this often with retryable errors is taken to fail for its own reasons.
MAX_RETRYABLE_FAILURES = 2


def _decode_line(text):
    """(MeasureInput, MeasureResult), or (None, reason) for a line AutoTVM's reader would choke on."""
    try:
        decoded = record.decode(text)
    except Exception as err:  # pylint: disable=broad-except
        return None, f"{type(err).__name__}: {err}"
    if decoded is None or not _well_formed(decoded):
        return None, "not an AutoTVM v0.2 record"
    return decoded, None


def read_records(path):
    """Yield ``(MeasureInput, MeasureResult)`` of every decodable line of an AutoTVM JSON log."""
    with open(path, encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            decoded, reason = _decode_line(text)
            if decoded is None:
                logger.warning("%s:%d: skipping unreadable log line (%s)", path, number, str(reason)[:200])
                continue
            yield decoded


def _well_formed(decoded):
    inp, res = decoded
    costs = res.costs
    return (inp is not None and res is not None and isinstance(getattr(inp.config, "index", None), int)
            and isinstance(res.error_no, int) and isinstance(costs, (tuple, list)) and len(costs) > 0
            and all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in costs))


def repair_log(path):
    """Make the log at ``path`` readable by ``autotvm.apply_history_best``; returns how many lines it moved.

    Blank lines are dropped; every other line AutoTVM's reader cannot decode (the half-written last
    line of a killed run, garbage) is appended to ``<path>.rejected``, so nothing is lost, with one
    warning; the log then ends with a newline, so the next record appended starts a line of its own.
    The file is replaced atomically and only when something had to change.
    """
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as handle:
        data = handle.read()
    # AutoTVM reads in text mode (universal newlines): \r and \r\n end lines too.
    text = data.decode("utf-8", errors="surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
    kept, rejected = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            kept.append(line)
            continue
        reason = "not UTF-8" if any("\udc80" <= ch <= "\udcff" for ch in line) else _decode_line(line)[1]
        if reason is None:
            kept.append(line)
        else:
            rejected.append(line)
            logger.warning("%s:%d: moved an unreadable line to %s.rejected (%s)", path, number, path,
                           str(reason)[:200])
    repaired = "".join(line + "\n" for line in kept)
    if repaired.encode("utf-8", errors="surrogateescape") == data:
        return 0
    if rejected:
        with open(path + ".rejected", "ab") as side:
            side.write("".join(line + "\n" for line in rejected).encode("utf-8", errors="surrogateescape"))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".repair-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(repaired.encode("utf-8"))
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(rejected)


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


def is_retryable(result):
    return result.error_no in RETRYABLE_ERRORS


def settled_records(records):
    """Split one task's records into (settled, retry): ``retry`` holds the configs whose every record is
    an infrastructure failure (fewer than ``MAX_RETRYABLE_FAILURES`` of them), which a resumed run
    measures again; everything else is settled and never measured twice."""
    by_index = {}
    for inp, res in records:
        by_index.setdefault(inp.config.index, []).append((inp, res))
    settled, retry = [], []
    for pairs in by_index.values():
        failures = [pair for pair in pairs if is_retryable(pair[1])]
        if len(failures) == len(pairs) and len(failures) < MAX_RETRYABLE_FAILURES:
            retry.append(pairs[-1])
        else:
            settled.extend(pairs)
    return settled, retry
