"""Time spent inside any AutoTVM tuner (proposing and learning), apart from measurement."""
import contextlib
import time


class _Clock:
    seconds = 0.0


@contextlib.contextmanager
def time_in_tuner(tuner):
    """Accumulate the seconds ``tuner.next_batch`` and ``tuner.update`` take while the block runs."""
    clock = _Clock()
    originals = {name: getattr(tuner, name) for name in ("next_batch", "update")}

    def timed(method):
        def wrapper(*args, **kwargs):
            tic = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - tic
        return wrapper

    for name, method in originals.items():
        setattr(tuner, name, timed(method))
    try:
        yield clock
    finally:
        for name in originals:
            delattr(tuner, name)  # back to the class's own method
