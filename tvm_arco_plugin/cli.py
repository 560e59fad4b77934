"""``arco-tune``: tune a whole model with AutoTVM from the command line (flags modelled on ``tvmc tune``).

    arco-tune --network resnet18 --trials 32 --output resnet18.log
    arco-tune --model net.pt --input-shape 1,3,224,224 --tuner arco --trials 200 --output net.log
    arco-tune --network resnet18 --prior-records resnet18.log --output resnet18.log   # resume

Every measurement is appended to ``--output`` as soon as its batch is measured, so a run killed by
SIGINT, SIGTERM or SIGKILL loses at most the batch in flight; ``--prior-records`` of that log resumes
without measuring anything twice.
"""
import logging
import os
import signal
import sys
import time

os.environ.setdefault("TOPHUB_LOCATION", "NONE")  # no downloads: tuning starts from nothing or your logs

import numpy as np  # noqa: E402

from .checks import OneLineParser, UsageError, check_seed, check_writable, parser_checks  # noqa: E402

logger = logging.getLogger("arco-tune")

NETWORKS = ("resnet18", "resnet50", "vgg16", "mobilenet")
TUNER_NAMES = ("arco", "xgb", "ga", "random", "gridsearch", "droplet", "chameleon")


def parse_args(argv):
    parser = OneLineParser(prog="arco-tune", description="Tune a model's AutoTVM tasks with ARCO (or any "
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
    parser_checks(parser, lambda: check_seed(args.seed))
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
    if any(d < 1 for d in args.shape):
        parser.error(f"--input-shape dimensions must be positive, got {args.input_shape!r}")
    if not args.model and not args.network:
        args.network = "resnet18"
    return args


# ---- checks made before any work ------------------------------------------------------------------
def check_tracker_reachable(args, seconds=5):
    import socket

    try:
        with socket.create_connection((args.rpc_host, args.rpc_port), timeout=seconds):
            pass
    except OSError as err:
        raise UsageError(f"--rpc-tracker {args.rpc_tracker}: no tracker answers there ({err.strerror or err})") from err


def check_tracker_key(args):
    from tvm import rpc

    try:
        queues = rpc.connect_tracker(args.rpc_host, args.rpc_port).summary()["queue_info"]
    except Exception as err:  # pylint: disable=broad-except
        raise UsageError(f"--rpc-tracker {args.rpc_tracker}: not an RPC tracker ({type(err).__name__})") from err
    if args.rpc_key not in queues:
        raise UsageError(f"--rpc-key {args.rpc_key}: no device with this key is registered at {args.rpc_tracker} "
                         f"(keys there: {', '.join(sorted(queues)) or 'none'})")


# LLVM feature names that are instruction sets (the rest of its feature list is tuning hints).
_ISA_PREFIXES = ("sse", "ssse", "avx", "amx", "fma", "f16c", "bmi", "popcnt", "lzcnt", "movbe", "sha", "aes",
                 "vaes", "pclmul", "vpclmul", "gfni", "adx", "xop", "tbm", "f16c")


def _isa_features(target):
    from tvm.target import codegen

    return {f for f in codegen.llvm_get_cpu_features(target) if f.startswith(_ISA_PREFIXES)}


def resolve_target(args):
    """The ``--target`` as a TVM Target this TVM can compile and, measured locally, this CPU can run."""
    import tvm
    from tvm.target import codegen

    from .target import X86_TRIPLE, host_cpu, host_target

    if not args.target:
        return host_target()
    kind = args.target.split()[0] if args.target.split() else ""
    # Checked before the Target is made: making e.g. a cuda Target already logs warnings of its own.
    if kind in tvm.target.Target.list_kinds() and tvm.get_global_func(f"target.build.{kind}",
                                                                       allow_missing=True) is None:
        raise UsageError(f"--target {args.target!r}: this TVM build has no {kind} code generator "
                         "(hhb-tvm is built for CPUs only)")
    try:
        target = tvm.target.Target(args.target)
    except Exception as err:  # pylint: disable=broad-except
        raise UsageError(f"--target {args.target!r}: not a TVM target ({_last_line(err)})") from err
    kind = target.kind.name
    if kind != "llvm":
        return target
    if "mtriple" not in target.attrs or "mcpu" not in target.attrs:
        # A bare "llvm" means RISC-V in this TVM build (docs/troubleshooting.md).
        missing = [f"-mtriple={X86_TRIPLE}"] * ("mtriple" not in target.attrs) + \
            [f"-mcpu={host_cpu()}"] * ("mcpu" not in target.attrs)
        target = tvm.target.Target(f"{args.target} {' '.join(missing)}")
        print(f"arco-tune: note: completing --target with {' '.join(missing)}: {target}", flush=True)
    try:
        codegen.llvm_get_cpu_archlist(target)
    except Exception as err:  # pylint: disable=broad-except
        raise UsageError(f"--target {args.target!r}: {_last_line(err)}") from err
    if not args.rpc_tracker:
        arch = str(target.attrs["mtriple"]).split("-")[0]
        if arch != X86_TRIPLE.split("-")[0]:
            raise UsageError(f"--target {args.target!r}: {arch} code cannot run on this x86_64 machine; measure on "
                             "such a device with --rpc-tracker")
        lacking = sorted(_isa_features(target) - _isa_features(host_target()))
        if lacking:
            raise UsageError(f"--target {args.target!r}: code for it uses instructions this CPU lacks "
                             f"({', '.join(lacking[:6])}); measure on such a device with --rpc-tracker, or "
                             "leave --target out to tune for this CPU")
    return target


def _last_line(err):
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(err).__name__


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

        try:
            return relay.frontend.from_pytorch(scripted, [("input0", args.shape)])
        except Exception as err:  # pylint: disable=broad-except
            raise UsageError(f"--input-shape {args.input_shape}: the model cannot take an input of this shape "
                             f"({_last_line(err)})") from err
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
    """Tell the tuner what was already measured; returns (distinct configs settled, configs to retry).

    Configs whose measurements all failed for infrastructure reasons (timeouts, RPC errors) are not
    settled: the resumed run measures them again (``records.settled_records``)."""
    from .records import settled_records
    from .tuner import ARCOTuner, throughput

    settled, retry = settled_records(prior_records_of(task, records))
    if not settled:
        return 0, len(retry)
    if isinstance(tuner, ARCOTuner):  # resumes (never re-measures) and warm-starts
        tuner.load_history(records)
    else:
        # Model-based AutoTVM tuners (xgb, chameleon) mark what update() sees as visited, so nothing is
        # measured twice; ga/random/gridsearch/droplet may measure a prior config again.
        inputs, results = zip(*settled)
        tuner.update(list(inputs), list(results))
        for inp, res in settled:
            flops = throughput(task, res)
            if flops > tuner.best_flops:
                tuner.best_flops, tuner.best_config, tuner.best_measure_pair = flops, inp.config, (inp, res)
    return len({inp.config.index for inp, _ in settled}), len(retry)


# ---- tuning -------------------------------------------------------------------------------------
class FailureCount:
    """AutoTVM callback: how many of this run's measurements failed, and how many of those were the
    infrastructure's fault (timeouts, RPC errors) rather than the config's."""

    def __init__(self):
        self.measured = self.failed = self.retryable = 0

    def __call__(self, _tuner, _inputs, results):
        from .records import is_retryable

        for res in results:
            self.measured += 1
            self.failed += res.error_no != 0
            self.retryable += res.error_no != 0 and is_retryable(res)

    @property
    def mostly_failed(self):
        return self.measured > 0 and self.failed > self.measured / 2


def tune_tasks(tasks, args, records):
    from tvm import autotvm

    from .tuner import throughput

    option = measure_option(args)
    curves, failed, infrastructure = [], [], []
    for i, task in enumerate(tasks):
        prefix = f"[Task {i + 1:2d}/{len(tasks):2d}] "
        tuner = make_tuner(args.tuner, task, args.seed)
        done, retry = resume(tuner, task, records)
        n_trial = min(args.trials, len(task.config_space)) - done
        curve, failures = [], FailureCount()

        def track(tuner_, inputs, results, curve=curve):
            for inp, res in zip(inputs, results):
                curve.append(max(throughput(inp.task, res), curve[-1] if curve else 0.0))

        if n_trial <= 0:
            print(f"{prefix}{task.name}: {done} configs already in the log, nothing left to measure", flush=True)
        else:
            if done or retry:
                print(f"{prefix}{task.name}: resuming, {done} configs already measured"
                      + (f", {retry} that failed for infrastructure reasons (timeouts, RPC errors) to measure again"
                         if retry else ""), flush=True)
            tuner.tune(n_trial=n_trial, measure_option=option, early_stopping=args.early_stopping,
                       callbacks=[autotvm.callback.progress_bar(n_trial, prefix=prefix),
                                  autotvm.callback.log_to_file(args.output), track, failures])
            print("", flush=True)
        if failures.mostly_failed:
            print(f"arco-tune: warning: {failures.failed} of {failures.measured} measurements of task {i} failed, "
                  f"{failures.retryable} of them timeouts or RPC/device errors", file=sys.stderr, flush=True)
            if failures.retryable > failures.measured / 2:
                infrastructure.append(i)
        if tuner.best_flops <= 0:
            failed.append(f"task {i} ({task.name} {task.args})")
        curves.append((f"{i}: {task.name}", curve))
    return curves, failed, infrastructure


def network_latency_ms(mod, params, target, args, log=None, repeat=10):
    """End-to-end latency of the built model: the mean of ``number`` runs, ``repeat`` times (ms)."""
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
    timer = module.module.time_evaluator("run", dev, number=5, repeat=repeat)
    return [float(x) * 1e3 for x in timer().results]


def latency_report(before, after, n_tuned, n_tasks):
    """One line: medians, their run-to-run ranges, the ratio, and whether it exceeds the noise."""
    med_before, med_after = float(np.median(before)), float(np.median(after))
    overlap = min(max(before), max(after)) >= max(min(before), min(after))
    verdict = ("the ranges overlap: the difference is within run-to-run noise" if overlap
               else "outside the run-to-run ranges")
    tuned = f"{n_tuned} of {n_tasks} tasks tuned" + ("" if n_tuned == n_tasks else ", the others run untuned")
    return (f"arco-tune: end-to-end latency, median of {len(before)} runs (min-max): {med_before:.2f} ms "
            f"({min(before):.2f}-{max(before):.2f}) before tuning, {med_after:.2f} ms ({min(after):.2f}-"
            f"{max(after):.2f}) after: {med_before / med_after:.2f}x; {verdict}; {tuned}")


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


def _terminate(signum, _frame):
    # Turn SIGTERM into an exception so the measurement pools shut down like on Ctrl-C.
    raise SystemExit(128 + signum)


def trials_header(tasks, every_task, args):
    largest = max(len(task.config_space) for task in tasks)
    each = (f"up to {args.trials} trials per task (a task's whole space where smaller)" if args.trials < largest
            else f"every config of each task (the largest space has {largest})")
    return (f"arco-tune: tuning {len(tasks)} of {len(every_task)} tasks with {args.tuner}, {each}; "
            f"log {args.output}")


def run(args):
    check_writable(args.output, "--output")
    if args.plot:
        check_writable(args.plot, "--plot")
    if args.rpc_tracker:
        check_tracker_reachable(args)
    mod, params = load_model(args)  # before anything imports TVM: see load_model
    from tvm import autotvm

    from .records import read_records, records_of_tasks, repair_log

    target = resolve_target(args)
    if args.rpc_tracker:
        check_tracker_key(args)
    every_task = extract_tasks(mod, params, target)
    if not every_task:
        raise UsageError(f"the model has no AutoTVM-tunable operators for target {target}")
    tasks = select_tasks(every_task, args.tasks)
    # A run killed mid-write leaves half a line: it would break apply_history_best and glue the next record
    # onto itself. Moved aside before anything is appended (and before resuming from that very log).
    repair_log(args.output)
    records = []
    if args.prior_records:
        records = records_of_tasks(read_records(args.prior_records), every_task, args.prior_records)
    if records and os.path.abspath(args.prior_records) != os.path.abspath(args.output):
        # The output log is complete on its own: apply_history_best on it sees the prior records too.
        with open(args.output, "a", encoding="utf-8") as dst:
            dst.writelines(autotvm.record.encode(inp, res) + "\n" for inp, res in records)
    print(trials_header(tasks, every_task, args), flush=True)
    before = None if args.skip_latency else network_latency_ms(mod, params, target, args)
    tic = time.time()
    curves, failed, infrastructure = tune_tasks(tasks, args, records)
    print(f"arco-tune: tuning took {time.time() - tic:.0f} s", flush=True)
    repair_log(args.output)
    if args.plot:
        plot(curves, args.plot)
    if not args.skip_latency:
        after = network_latency_ms(mod, params, target, args, log=args.output)
        print(latency_report(before, after, len(tasks), len(every_task)), flush=True)
    if failed:
        print(f"arco-tune: error: every measured configuration failed for {', '.join(failed)}; see the errors "
              f"in {args.output} (error_no) or rerun with --timeout larger", file=sys.stderr)
        return 1
    if infrastructure:
        print(f"arco-tune: error: most measurements of task(s) {', '.join(map(str, infrastructure))} failed with "
              f"timeouts or RPC/device errors (a device that went away?); rerun with --prior-records "
              f"{args.output} to measure them again", file=sys.stderr)
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
