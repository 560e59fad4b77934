"""Re-times the kept schedules of several live benchmark files (``bench --retime``) together, workload by
workload and seed by seed, so that runs the benchmark had to keep in separate files (with and without
``--prior``, say) are compared on the same machine state.

    .venv-ms/bin/python benchmarks/scripts/ms_retime_together.py A.json:_prior B.json: --rounds 5 --out C.json
    .venv-ms/bin/python benchmarks/scripts/ms_paired.py C.json --pairs arco_prior:arco --checkpoints 64,128

Each file's label is appended to its runs' strategy names (A's ``arco`` becomes ``arco_prior``; an empty
label keeps them). ``C.json`` holds the renamed runs; ``retimed`` is the joint re-timing, and each
run's re-timing within its own file is kept as ``retimed_in_own_file``. Groups already re-timed in
``C.json`` are not timed again, so an interrupted run resumes.
"""
import argparse
import json
import os
import sys

from tvm_arco_plugin.metaschedule.bench import write_results
from tvm_arco_plugin.metaschedule.retime import retime
from tvm_arco_plugin.metaschedule.workloads import workload


def labelled_runs(specs):
    """(cpu, runs renamed by their file's label) of ``specs`` ("path:label")."""
    cpus, runs = set(), []
    for spec in specs:
        path, _, label = spec.rpartition(":")
        if not path:
            raise ValueError(f"{spec!r}: give each file as PATH:LABEL (the label may be empty)")
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        cpus.add(saved.get("cpu"))
        for run in saved["runs"]:
            if "kept" not in run:
                raise ValueError(f"{path}: run {run['strategy']} seed {run['seed']} kept no schedules "
                                 "(run the benchmark with --retime)")
            run = dict(run, strategy=run["strategy"] + label)
            run["retimed_in_own_file"] = run.pop("retimed", None)
            runs.append(run)
    if len(cpus) != 1:
        raise ValueError(f"the files were measured on different CPUs ({sorted(map(str, cpus))}): not comparable")
    names = [(r["workload"], r["seed"], r["budget"], r["strategy"]) for r in runs]
    if len(set(names)) != len(names):
        raise ValueError("two files hold runs of the same strategy, workload and seed: give them different labels")
    return cpus.pop(), runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="PATH:LABEL")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        cpu, runs = labelled_runs(args.files)
    except (OSError, ValueError, KeyError) as err:
        parser.error(str(err))
    done = {}
    if os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            done = {(r["workload"], r["seed"], r["budget"], r["strategy"]): r["retimed"]
                    for r in json.load(f)["runs"] if r.get("retimed")}
    for run in runs:
        run["retimed"] = done.get((run["workload"], run["seed"], run["budget"], run["strategy"]))
    for key in sorted({(r["workload"], r["seed"], r["budget"]) for r in runs}):
        group = [r for r in runs if (r["workload"], r["seed"], r["budget"]) == key]
        if all(r["retimed"] for r in group):
            continue
        print(f"re-timing {len(group)} runs of {key[0]} seed {key[1]} together", file=sys.stderr, flush=True)
        for run, retimed in zip(group, retime(workload(key[0]), group, args.rounds, seed=key[1])):
            run["retimed"] = retimed
        write_results(args.out, cpu, runs, retimed_together=args.files)
    write_results(args.out, cpu, runs, retimed_together=args.files)


if __name__ == "__main__":
    main()
