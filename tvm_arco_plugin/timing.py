"""Time spent inside any AutoTVM tuner (proposing and learning), apart from measurement."""
import contextlib
import time


class _Clock:
    def __init__(self):
        self.seconds = 0.0
        self.trials = 0
        # (measurements so far, tuner seconds so far) after every update: the cost of any prefix budget.
        self.marks = []

    def seconds_at(self, n_trials):
        """Tuner seconds spent until ``n_trials`` measurements had been learnt from."""
        for trials, seconds in self.marks:
            if trials >= n_trials:
                return seconds
        return self.seconds


@contextlib.contextmanager
def time_in_tuner(tuner):
    """Accumulate the seconds ``tuner.next_batch`` and ``tuner.update`` take while the block runs."""
    clock = _Clock()
    originals = {name: getattr(tuner, name) for name in ("next_batch", "update")}

    def timed(name, method):
        def wrapper(*args, **kwargs):
            tic = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - tic
                if name == "update":
                    clock.trials += len(args[0] if args else kwargs["inputs"])
                    clock.marks.append((clock.trials, clock.seconds))
        return wrapper

    for name, method in originals.items():
        setattr(tuner, name, timed(name, method))
    try:
        yield clock
    finally:
        for name in originals:
            delattr(tuner, name)  # back to the class's own method
