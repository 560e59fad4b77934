"""The strategy's contract, driven step by step as MetaSchedule's task scheduler drives it, with
measurements from a deterministic function of each candidate's decisions (no building or running):
proposals depend only on the seed and the measurements."""
import math
import threading

import numpy as np

import pytest

from tvm_arco_plugin.metaschedule import ARCOSearchStrategy
from tvm_arco_plugin.metaschedule.strategy import default_settings, seeded_xgb_model
from tvm_arco_plugin.metaschedule.space import PERFECT_TILE, TraceSpace, is_sampling

from helpers import ms, tune_context


def pretend_seconds(candidate):
    """A fixed 'run time' per schedule: tiles near 8x32 and unrolling are fast, as on a real CPU."""
    trace = candidate.sch.trace
    cost = 1.0
    for inst in trace.insts:
        if not is_sampling(inst):
            continue
        decision = trace.decisions[inst]
        if inst.kind.name == PERFECT_TILE:
            factors = [int(f) for f in decision]
            cost *= 1 + abs(math.log2(factors[-1]) - 3) + 0.5 * abs(math.log2(max(factors[0], 1)) - 2)
        else:
            cost *= 1 + 0.1 * int(decision)
    return 1e-4 * cost


def drive(mod, seed, trials=48, per_iter=16, failing=lambda c: False, first_batch=16, num_threads=2,
          cost_model=None, on_results=None, settings=None, cloned=False, on_candidates=None, database=None,
          **options):
    """``cloned``: drive the strategy's clone through its FFI methods, as ``tune_tir`` does;
    ``on_candidates(strategy, candidates)`` sees each batch before it is measured; a ``database`` gets every
    result committed, as MetaSchedule's task scheduler commits them."""
    context = tune_context(mod, num_threads=num_threads)
    strategy = ARCOSearchStrategy(seed=seed, candidates_per_round=512, first_batch=first_batch, settings=settings,
                                  **options)
    if cloned:
        strategy = strategy.clone()
    strategy._initialize_with_tune_context(context)
    strategy.pre_tuning(trials, per_iter, context.generate_design_space(), database, cost_model)
    workload = None if database is None else database.commit_workload(mod)
    proposed = []
    while True:
        candidates = strategy.generate_measure_candidates()
        if candidates is None:
            break
        assert len(candidates) > 0
        proposed.append([str(c.sch.trace) for c in candidates])
        if on_candidates is not None:
            on_candidates(strategy, candidates)
        results = [ms.runner.RunnerResult(None, "pretend build failure") if failing(c)
                   else ms.runner.RunnerResult([pretend_seconds(c)], None) for c in candidates]
        strategy.notify_runner_results(candidates, results)
        if database is not None:
            for candidate, result in zip(candidates, results):
                database.commit_tuning_record(ms.database.TuningRecord(candidate.sch.trace, workload, result.run_secs,
                                                                       context.target, candidate.args_info))
        if on_results is not None:
            on_results(strategy, candidates, results)
    strategy.post_tuning()
    return proposed, strategy


def test_same_seed_and_measurements_give_the_same_candidates(matmul_128):
    first, strategy = drive(matmul_128, seed=3)
    second, _ = drive(matmul_128, seed=3)
    other, _ = drive(matmul_128, seed=4)
    assert sum(map(len, first)) == 48
    assert first == second
    assert first != other
    flat = [t for batch in first for t in batch]
    assert len(set(flat)) == len(flat)  # nothing measured twice
    assert len(strategy.stats.measured) == 48


def test_replaying_on_two_threads_gives_the_candidates_of_one(matmul_128, monkeypatch):
    """Replays run on the context's threads, each on its own copy of the module; the proposals must
    not depend on it."""
    replayed_on = []
    replay = TraceSpace.schedule

    def recording_replay(self, index):
        replayed_on.append(threading.current_thread().name)
        return replay(self, index)

    monkeypatch.setattr(TraceSpace, "schedule", recording_replay)
    one_thread, _ = drive(matmul_128, seed=5, trials=32, num_threads=1)
    assert not any(name.startswith("arco-replay") for name in replayed_on)
    replayed_on.clear()
    two_threads, _ = drive(matmul_128, seed=5, trials=32, num_threads=2)
    assert len({name for name in replayed_on if name.startswith("arco-replay")}) == 2
    assert one_thread == two_threads


def test_the_early_model_scores_as_its_predict_does_extracting_each_configs_features_once(matmul_128, monkeypatch):
    """The early model's scores reuse each config's features; the candidates are those of predicting
    every time. After the last batch the early model is not retrained: nothing is scored again."""
    from tvm_arco_plugin.metaschedule import strategy as strategy_module

    extracted, trained_on = [], []  # candidates per extraction; the early model's results after each batch

    def counting_model(seed, **options):
        model = seeded_xgb_model(seed, **options)

        class CountingExtractor:
            def extract_from(self, context, candidates):
                extracted.append(len(candidates))
                return extractor.extract_from(context, candidates)

        extractor, model.extractor = model.extractor, CountingExtractor()
        return model

    def record_training(strategy, candidates, results):
        trained_on.append(strategy.early_model.data_size)

    monkeypatch.setattr(strategy_module, "seeded_xgb_model", counting_model)
    cached, _ = drive(matmul_128, seed=6, trials=64, on_results=record_training)
    extracted_cached = sum(extracted)
    extracted.clear()

    def predict_every_time(self, space, indexes, schedules):
        candidates = [strategy_module.measure_candidate(s) for s in schedules]
        return np.asarray(self.early_model.predict(self.context, candidates), dtype=np.float64)

    monkeypatch.setattr(ARCOSearchStrategy._cls, "_early_model_scores", predict_every_time)
    uncached, _ = drive(matmul_128, seed=6, trials=64)
    assert cached == uncached
    assert [len(batch) for batch in cached] == [16, 16, 16, 16]
    assert trained_on == [16, 32, 48, 48]  # not retrained after the fourth, the last, batch
    assert extracted_cached < 0.8 * sum(extracted)


def test_search_moves_to_faster_configs_than_its_initial_design(matmul_128):
    proposed, strategy = drive(matmul_128, seed=0, trials=64)
    seconds = [s for _, _, _, s in strategy.stats.measured]
    assert float(np.median(seconds[-16:])) < 0.8 * float(np.median(seconds[:16]))
    # What the agents did, per design space, for the benchmark's JSON: their share of the measured configs
    # and the policies' entropy in each round (relative to uniform: 1 before any update).
    assert [a["space"] for a in strategy.stats.agents] == [0, 1, 2]
    assert any(a["walk_share"] > 0 for a in strategy.stats.agents)
    for agents, space in zip(strategy.stats.agents, strategy.spaces):
        assert agents["walk_share"] == round(space.engine.share_from("walk"), 4)
        rounds = agents["entropy_per_round"]
        assert len(rounds) >= 2 and rounds[0][1] == 1.0 and all(0 < e <= 1.0 for _, e in rounds)


def test_the_round_budget_follows_the_spaces_share_of_the_last_batch(matmul_128):
    proposed, strategy = drive(matmul_128, seed=0, trials=48, settings=default_settings(elite=32),
                               space_budget="by_picks")
    sizes = np.cumsum([0] + [len(batch) for batch in proposed])
    spaces = [space_id for _, space_id, _, _ in strategy.stats.measured]
    # The last round's budgets were split by the batch before the last: 2 x elite each, the rest by share.
    before_last = np.bincount(spaces[sizes[-3]:sizes[-2]], minlength=3)
    budgets = [space.engine.settings.candidates_per_round for space in strategy.spaces]
    assert budgets == [64 + int((512 - 3 * 64) * count / before_last.sum()) for count in before_last]
    assert len(set(budgets)) > 1 and sum(budgets) <= 512
    favoured = int(np.argmax(before_last))
    assert strategy.spaces[favoured].engine.scored_per_round[-1] > 512 // 3
    # The default splits evenly and keeps it.
    _, even = drive(matmul_128, seed=0, trials=32, settings=default_settings(elite=32))
    assert [space.engine.settings.candidates_per_round for space in even.spaces] == [512 // 3] * 3
    with pytest.raises(ValueError, match="space_budget"):
        ARCOSearchStrategy(space_budget="largest")


def test_space_picks_by_measured_split_the_batch_by_the_spaces_share_of_the_fastest_measured(matmul_128):
    proposed, strategy = drive(matmul_128, seed=0, trials=48, space_picks="by_measured", measured_top=8)
    sizes = np.cumsum([0] + [len(batch) for batch in proposed])
    measured = strategy.stats.measured
    before = sorted(((1.0 / sec, space_id) for _, space_id, _, sec in measured[:sizes[-2]] if sec), reverse=True)
    top = np.bincount([space_id for _, space_id in before[:8]], minlength=3)
    n = len(proposed[-1])
    slots = n - 3 * (int(n * 0.25) // 3)
    shares = slots * top / top.sum()
    quota = np.floor(shares).astype(int)
    quota[np.argsort(-(shares - quota), kind="stable")[: slots - quota.sum()]] += 1
    last = np.bincount([space_id for _, space_id, _, _ in measured[sizes[-2]:]], minlength=3)
    assert list(last) == list(quota + int(n * 0.25) // 3) and top.max() < 8  # more than one space among the top
    with pytest.raises(ValueError, match="space_picks"):
        ARCOSearchStrategy(space_picks="by_luck")
    with pytest.raises(ValueError, match="measured_top"):
        ARCOSearchStrategy(space_picks="by_measured", measured_top=0)


def test_random_share_measures_configs_the_model_never_scored(matmul_128):
    """The model's picks come from the candidates its round scored; the random share does not."""
    scored = []  # per batch once a model has learnt, before it is measured: was each config scored?

    def on_candidates(strategy, candidates):
        if strategy.trials >= 16:
            scored.append([index in strategy.spaces[space_id].scores for space_id, index, _ in strategy.pending])

    proposed, strategy = drive(matmul_128, seed=0, trials=64, random_share=0.25, on_candidates=on_candidates)
    again, _ = drive(matmul_128, seed=0, trials=64, random_share=0.25)
    assert proposed == again
    assert scored == [[True] * 12 + [False] * 4] * 3
    measured = [(space_id, index) for _, space_id, index, _ in strategy.stats.measured]
    assert len(set(measured)) == len(measured) == 64
    scored.clear()
    drive(matmul_128, seed=0, trials=64, on_candidates=on_candidates)
    assert scored == [[True] * 16] * 3
    with pytest.raises(ValueError, match="random_share"):
        ARCOSearchStrategy(random_share=1.0)


def test_a_round_scores_candidates_in_proportion_to_its_batch_with_round_budget_by_batch(matmul_128):
    budgets = []  # per batch, each space's budget for the round that proposed it

    def record_budgets(strategy, candidates, results):
        budgets.append([space.engine.settings.candidates_per_round for space in strategy.spaces])

    proposed, strategy = drive(matmul_128, seed=0, trials=32, per_iter=16, first_batch=4, round_budget="by_batch",
                               settings=default_settings(elite=16), on_results=record_budgets)
    assert [len(batch) for batch in proposed] == [4, 4, 8, 16]
    # 512 x batch / 16 candidates, split over the three spaces ...
    assert budgets[1:] == [[512 * n // 16 // 3] * 3 for n in (4, 8, 16)]
    # ... and what they scored: a space starts a round only in a batch where it had measurements, and
    # the first space had one in each of the three model-ranked batches.
    scored = strategy.spaces[0].engine.scored_per_round
    assert len(scored) == 3 and all(s <= b[0] for s, b in zip(scored, budgets[1:]))
    assert scored[-1] > budgets[2][0]  # the last round, for a batch of 16, scored more than that for 8 could
    with pytest.raises(ValueError, match="round_budget"):
        ARCOSearchStrategy(round_budget="per_trial")


def test_late_generations_start_once_the_task_model_has_learnt_from_enough_results(matmul_128):
    def drive_with_a_learning_task_model(**options):
        model, context = seeded_xgb_model(0), tune_context(matmul_128)
        generations = []  # per batch, the engines' generations when it was proposed

        def update(strategy, candidates, results):
            generations.append(sorted({space.engine.settings.generations for space in strategy.spaces}))
            # MetaSchedule's task scheduler updates the task's cost model after every batch; here the test does.
            model.update(context, candidates, results)

        drive(matmul_128, seed=0, trials=64, cost_model=model, on_results=update, late_generations_after=32, **options)
        return generations

    # Per batch of 16: the untrained model predicts at random (batch 1), then it has learnt but the task
    # has fewer than 32 results (batch 2), then late generations.
    assert drive_with_a_learning_task_model(late_generations=4) == [[1], [1], [4], [4]]
    assert drive_with_a_learning_task_model() == [[1]] * 4  # the default: one generation to the end
    with pytest.raises(ValueError, match="late_generations"):
        ARCOSearchStrategy(late_generations=0)


def test_evolutionary_after_hands_the_batches_to_evolutionary_search_which_measures_nothing_twice(matmul_128):
    def drive_handing_over():
        model, context = seeded_xgb_model(0), tune_context(matmul_128)
        handed_over = []

        def update(strategy, candidates, results):
            handed_over.append(strategy.evolutionary is not None)
            model.update(context, candidates, results)

        proposed, strategy = drive(matmul_128, seed=0, trials=32, cost_model=model, on_results=update,
                                   database=ms.database.MemoryDatabase(), evolutionary_after=16)
        return proposed, strategy, handed_over

    first, strategy, handed_over = drive_handing_over()
    assert handed_over == [False, True]  # batches of 16: 16 results, then EvolutionarySearch's
    assert sum(map(len, first)) == 32
    # Its population starts from the 16 measured, so it offers some of them again; they are skipped. (A config
    # whose parallel annotation MutateParallel changed is of no design space's knobs: index None.)
    configs = [(space_id, index) for _, space_id, index, _ in strategy.stats.measured if index is not None]
    assert len(configs) > 16 and len(set(configs)) == len(configs)
    assert drive_handing_over()[0] == first  # its own context is seeded by the strategy's seed
    with pytest.raises(ValueError, match="needs a database"):
        drive(matmul_128, seed=0, evolutionary_after=16)


def test_every_candidate_failing_stops_the_task_with_a_reason(matmul_128):
    proposed, strategy = drive(matmul_128, seed=0, trials=64, failing=lambda c: True)
    assert len(proposed) == strategy.max_failed_batches < 4
    assert len(strategy.stats.stopped) == 1
    assert "every candidate failed to build or run" in strategy.stats.stopped[0][1]
    assert "pretend build failure" in strategy.stats.stopped[0][1]


def test_batches_follow_the_trial_budget_as_in_tvms_own_strategy_test(matmul_128):
    proposed, _ = drive(matmul_128, seed=0, trials=20, per_iter=7)
    assert [len(batch) for batch in proposed] == [7, 7, 6]


def test_first_batches_are_small_and_double_up_to_the_batch_size(matmul_128):
    ramped, strategy = drive(matmul_128, seed=0, trials=96, per_iter=32)
    assert [len(batch) for batch in ramped] == [16, 16, 32, 32]
    # After the first batch the early model has trained, so the next batches follow it.
    assert strategy.early_model.booster is not None
    flat, _ = drive(matmul_128, seed=0, trials=96, per_iter=32, first_batch=0)
    assert [len(batch) for batch in flat] == [32, 32, 32]
    # The clone tune_tir tunes with keeps the cap.
    capped, _ = drive(matmul_128, seed=0, trials=96, per_iter=32, max_batch=24, cloned=True)
    assert [len(batch) for batch in capped] == [16, 16, 24, 24, 16]
    with pytest.raises(ValueError, match="max_batch"):
        ARCOSearchStrategy(max_batch=0)


def test_a_space_whose_every_schedule_a_postprocessor_refuses_gives_no_candidates(matmul_128):
    from tvm.ir.utils import derived_object

    @derived_object
    class RefuseEverything(ms.postproc.PyPostproc):
        def _initialize_with_tune_context(self, context):
            pass

        def apply(self, sch):
            return False

        def clone(self):
            return RefuseEverything()

    context = ms.TuneContext(mod=matmul_128, target=tune_context(matmul_128).target,
                             space_generator=ms.space_generator.PostOrderApply(postprocs=[RefuseEverything()]),
                             task_name="main", rand_state=1, num_threads=1)
    strategy = ARCOSearchStrategy(seed=0, candidates_per_round=512)
    strategy._initialize_with_tune_context(context)
    strategy.pre_tuning(64, 8, context.generate_design_space(), None, None)
    assert strategy.generate_measure_candidates() is None
