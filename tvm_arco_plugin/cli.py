"""``arco-tune``: tune a whole model with AutoTVM from the command line (flags modelled on ``tvmc tune``).

    arco-tune --network resnet18 --trials 32 --output resnet18.log
    arco-tune --model net.pt --input-shape 1,3,224,224 --tuner arco --trials 200 --output net.log
    arco-tune --network resnet18 --prior-records resnet18.log --output resnet18.log   # resume

Every measurement is appended to ``--output`` as soon as its batch is measured, so a run killed by
SIGINT, SIGTERM or SIGKILL loses at most the batch in flight; ``--prior-records`` of that log resumes
without measuring anything twice.
"""
import argparse
import logging
import os
import signal
import sys
import time

os.environ.setdefault("TOPHUB_LOCATION", "NONE")  # no downloads: tuning starts from nothing or your logs

import numpy as np  # noqa: E402

logger = logging.getLogger("arco-tune")

NETWORKS = ("resnet18", "resnet50", "vgg16", "mobilenet")
TUNER_NAMES = ("arco", "xgb", "ga", "random", "gridsearch", "droplet", "chameleon")


class UsageError(Exception):
    """A problem with the user's input: reported in one line, no traceback."""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="arco-tune", description="Tune a model's AutoTVM tasks with ARCO (or any "
                                     "AutoTVM tuner), then build it with the best schedules.")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--network", choices=NETWORKS, help="a tvm.relay.testing network (default: resnet18)")
    model.add_argument("--model", metavar="FILE", help="a TorchScript file (torch.jit.save)")
    parser.add_argument("--input-shape", default="1,3,224,224", help="input shape of --model (default 1,3,224,224)")
    parser.add_argument("--target", help="TVM target (default: this host's x86 CPU)")
    parser.add_argument("--tuner", choices=TUNER_NAMES, default="arco")
    parser.add_argument("--trials", type=int, default=200, help="measurements per task (default 200)")
    parser.add_argument("--early-stopping", type=int, help="stop a task after this many trials without improvement")
    parser.add_argument("--output", "-o", default="arco_tune.log", help="AutoTVM log to append records to")
    parser.add_argument("--prior-records", metavar="LOG", help="AutoTVM log to resume from / warm-start with")
    parser.add_argument("--rpc-tracker", metavar="HOST:PORT", help="measure on devices from this RPC tracker")
    parser.add_argument("--rpc-key", help="device key at the RPC tracker")
    parser.add_argument("--tasks", help="comma-separated task indexes to tune (default: all)")
    parser.add_argument("--number", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--min-repeat-ms", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=30, help="seconds per build or run before it is an error")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="best-so-far GFLOPS per task against trials")
    parser.add_argument("--skip-latency", action="store_true", help="do not build and time the model before/after")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    if args.early_stopping is not None and args.early_stopping < 1:
        parser.error("--early-stopping must be at least 1")
    if bool(args.rpc_tracker) != bool(args.rpc_key):
        parser.error("--rpc-tracker and --rpc-key go together")
    if args.rpc_tracker:
        host, _, port = args.rpc_tracker.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--rpc-tracker must be HOST:PORT, got {args.rpc_tracker!r}")
        args.rpc_host, args.rpc_port = host, int(port)
    for flag, path in (("--model", args.model), ("--prior-records", args.prior_records)):
        if path and not os.path.isfile(path):
            parser.error(f"{flag}: no such file: {path}")
    try:
        args.shape = tuple(int(x) for x in args.input_shape.split(","))
    except ValueError:
        parser.error(f"--input-shape must be comma-separated integers, got {args.input_shape!r}")
    if not args.model and not args.network:
        args.network = "resnet18"
    return args


# ---- model and tasks ------------------------------------------------------------------------------
def load_model(args):
    if args.model:
        # Before TVM is imported: torch.jit.load crashes (free(): invalid pointer) in a process that has
        # already loaded this TVM build's shared library.
        import torch

        try:
            scripted = torch.jit.load(args.model, map_location="cpu").eval()
        except Exception as err:  # pylint: disable=broad-except
            raise UsageError(f"--model {args.model}: not a TorchScript file ({type(err).__name__}: {err})") from err
        from tvm import relay

        return relay.frontend.from_pytorch(scripted, [("input0", args.shape)])
    from tvm.relay import testing

    builders = {
        "resnet18": lambda: testing.resnet.get_workload(num_layers=18, batch_size=1),
        "resnet50": lambda: testing.resnet.get_workload(num_layers=50, batch_size=1),
        "vgg16": lambda: testing.vgg.get_workload(num_layers=16, batch_size=1),
        "mobilenet": lambda: testing.mobilenet.get_workload(batch_size=1),
    }
    return builders[args.network]()


def extract_tasks(mod, params, target):
    from tvm import autotvm

    return autotvm.task.extract_from_program(mod["main"], target=target, params=params)


def select_tasks(tasks, selection):
    if not selection:
        return tasks
    try:
        return [tasks[int(i)] for i in selection.split(",")]
    except (ValueError, IndexError) as err:
        raise UsageError(f"--tasks {selection}: the model has {len(tasks)} tasks (0..{len(tasks) - 1})") from err


def make_tuner(name, task, seed):
    from tvm import autotvm

    from . import ARCOTuner

    if name == "arco":
        return ARCOTuner(task, seed=seed)
    if name == "chameleon":
        from .chameleon import ChameleonTuner

        return ChameleonTuner(task, seed=seed)
    return {"xgb": lambda: autotvm.tuner.XGBTuner(task, loss_type="reg"),
            "ga": lambda: autotvm.tuner.GATuner(task, pop_size=50),
            "random": lambda: autotvm.tuner.RandomTuner(task),
            "gridsearch": lambda: autotvm.tuner.GridSearchTuner(task),
            "droplet": lambda: autotvm.tuner.DropletTuner(task)}[name]()


def measure_option(args):
    from tvm import autotvm

    if args.rpc_tracker:
        runner = autotvm.RPCRunner(args.rpc_key, args.rpc_host, args.rpc_port, number=args.number,
                                   repeat=args.repeat, min_repeat_ms=args.min_repeat_ms, timeout=args.timeout)
    else:
        runner = autotvm.LocalRunner(number=args.number, repeat=args.repeat, min_repeat_ms=args.min_repeat_ms,
                                     timeout=args.timeout)
    return autotvm.measure_option(builder=autotvm.LocalBuilder(timeout=args.timeout), runner=runner)


# ---- resume -------------------------------------------------------------------------------------
def prior_records_of(task, records):
    """Records of exactly this task (template, arguments, target), rebound to the live task."""
    from tvm.autotvm.measure import MeasureInput

    from .records import task_key

    mine = []
    for inp, res in records:
        if task_key(inp.task, inp.target) != task_key(task):
            continue
        index = inp.config.index
        if 0 <= index < task.config_space.range_length and task.config_space.is_index_valid(index):
            mine.append((MeasureInput(task.target, task, task.config_space.get(index)), res))
        else:
            logger.warning("skipping a record of %s with config index %s, outside this task's space", task.name,
                           index)
    return mine


def resume(tuner, task, records):
    """Tell the tuner what was already measured; returns how many distinct configs that was."""
    from .tuner import ARCOTuner, throughput

    mine = prior_records_of(task, records)
    if not mine:
        return 0
    if isinstance(tuner, ARCOTuner):  # resumes (never re-measures) and warm-starts
        tuner.load_history(records)
    else:
        # Model-based AutoTVM tuners (xgb, chameleon) mark what update() sees as visited, so nothing is
        # measured twice; ga/random/gridsearch/droplet may measure a prior config again.
        inputs, results = zip(*mine)
        tuner.update(list(inputs), list(results))
        for inp, res in mine:
            flops = throughput(task, res)
            if flops > tuner.best_flops:
                tuner.best_flops, tuner.best_config, tuner.best_measure_pair = flops, inp.config, (inp, res)
    return len({inp.config.index for inp, _ in mine})


# ---- tuning -------------------------------------------------------------------------------------
def tune_tasks(tasks, args, records):
    from tvm import autotvm

    from .tuner import throughput

    option = measure_option(args)
    curves, failed = [], []
    for i, task in enumerate(tasks):
        prefix = f"[Task {i + 1:2d}/{len(tasks):2d}] "
        tuner = make_tuner(args.tuner, task, args.seed)
        done = resume(tuner, task, records)
        n_trial = min(args.trials, len(task.config_space)) - done
        curve = []

        def track(tuner_, inputs, results, curve=curve):
            for inp, res in zip(inputs, results):
                curve.append(max(throughput(inp.task, res), curve[-1] if curve else 0.0))

        if n_trial <= 0:
            print(f"{prefix}{task.name}: {done} configs already in the log, nothing left to measure", flush=True)
        else:
            if done:
                print(f"{prefix}{task.name}: resuming, {done} configs already measured", flush=True)
            tuner.tune(n_trial=n_trial, measure_option=option, early_stopping=args.early_stopping,
                       callbacks=[autotvm.callback.progress_bar(n_trial, prefix=prefix),
                                  autotvm.callback.log_to_file(args.output), track])
            print("", flush=True)
        if tuner.best_flops <= 0:
            failed.append(f"task {i} ({task.name} {task.args})")
        curves.append((f"{i}: {task.name}", curve))
    return curves, failed


def network_latency_ms(mod, params, target, args, log=None):
    import tvm
    from tvm import autotvm, relay
    from tvm.contrib import graph_executor

    def build():
        with tvm.transform.PassContext(opt_level=3):
            return relay.build(mod, target=target, params=params)

    if log:
        with autotvm.apply_history_best(log):
            lib = build()
    else:
        lib = build()
    if args.rpc_tracker:
        import tempfile

        from tvm import rpc

        remote = rpc.connect_tracker(args.rpc_host, args.rpc_port).request(args.rpc_key, session_timeout=300)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "net.tar")
            lib.export_library(path)
            remote.upload(path)
            loaded = remote.load_module("net.tar")
        dev = remote.cpu()
    else:
        loaded, dev = lib, tvm.cpu()
    module = graph_executor.GraphModule(loaded["default"](dev))
    timer = module.module.time_evaluator("run", dev, number=5, repeat=10)
    return float(np.median(timer().results) * 1e3)


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, curve in curves:
        if curve:
            ax.plot(np.arange(1, len(curve) + 1), np.asarray(curve) / 1e9, label=label)
    ax.set_xlabel("trials (this run)")
    ax.set_ylabel("best GFLOPS so far")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _end_with_newline(path):
    if os.path.exists(path) and os.path.getsize(path):
        with open(path, "rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


def _terminate(signum, _frame):
    # Turn SIGTERM into an exception so the measurement pools shut down like on Ctrl-C.
    raise SystemExit(128 + signum)


def run(args):
    mod, params = load_model(args)  # before anything imports TVM: see load_model
    from tvm import autotvm

    from . import host_target
    from .records import read_records, records_of_tasks

    target = args.target or host_target()
    every_task = extract_tasks(mod, params, target)
    tasks = select_tasks(every_task, args.tasks)
    records = []
    if args.prior_records:
        records = records_of_tasks(read_records(args.prior_records), every_task, args.prior_records)
    _end_with_newline(args.output)  # a run killed mid-line must not glue the next record onto its last line
    if records and os.path.abspath(args.prior_records) != os.path.abspath(args.output):
        # The output log is complete on its own: apply_history_best on it sees the prior records too.
        with open(args.output, "a", encoding="utf-8") as dst:
            dst.writelines(autotvm.record.encode(inp, res) + "\n" for inp, res in records)
    print(f"arco-tune: {len(tasks)} tasks, tuner {args.tuner}, {args.trials} trials each, log {args.output}",
          flush=True)
    before = None if args.skip_latency else network_latency_ms(mod, params, target, args)
    tic = time.time()
    curves, failed = tune_tasks(tasks, args, records)
    print(f"arco-tune: tuning took {time.time() - tic:.0f} s", flush=True)
    if args.plot:
        plot(curves, args.plot)
    if not args.skip_latency:
        after = network_latency_ms(mod, params, target, args, log=args.output)
        print(f"arco-tune: end-to-end latency {before:.2f} ms before tuning, {after:.2f} ms after "
              f"({before / after:.2f}x)", flush=True)
    if failed:
        print(f"arco-tune: error: every measured configuration failed for {', '.join(failed)}; see the errors "
              f"in {args.output} (error_no) or rerun with --timeout larger", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    # A shell starts background jobs with SIGINT ignored; arco-tune stops cleanly on it in any case.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(args)
    except UsageError as err:
        print(f"arco-tune: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\narco-tune: interrupted; every finished batch is in {args.output}: rerun with "
              f"--prior-records {args.output} to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
