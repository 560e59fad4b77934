"""Confidence Sampling: which explored candidates are worth a real measurement.

Candidates' predicted scores become a probability distribution ``p_i = softmax((s_i - max s) / (temperature * std(s)))``. The
*soft threshold* keeps the confident set ``{i : p_i >= threshold * max_j p_j}``, i.e. every candidate
within ``temperature * std(s) * ln(1 / threshold)`` of the best prediction. The batch is the best
candidate plus draws without replacement from the confident set in proportion to ``p``; if the set is
smaller than the batch, the next best candidates by score fill it.
"""
import numpy as np


def confidence_probabilities(scores, temperature):
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std()
    if not np.isfinite(spread) or spread < 1e-12:
        return np.full(len(scores), 1.0 / len(scores))
    logits = (scores - scores.max()) / (temperature * spread)
    weights = np.exp(logits)
    return weights / weights.sum()


def confidence_sample(scores, n, rng, temperature=1.0, threshold=0.3):
    """Positions (into ``scores``) of the ``n`` candidates to measure, best first."""
    scores = np.asarray(scores, dtype=np.float64)
    if n <= 0 or len(scores) == 0:
        return []
    by_score = np.argsort(-scores, kind="stable")
    if n >= len(scores):
        return by_score.tolist()
    probs = confidence_probabilities(scores, temperature)
    confident = np.flatnonzero(probs >= threshold * probs.max())
    chosen = [int(by_score[0])]
    rest = confident[confident != chosen[0]]
    take = min(n - 1, len(rest))
    if take:
        weights = probs[rest] / probs[rest].sum()
        drawn = rng.choice(rest, size=take, replace=False, p=weights)
        chosen += sorted(drawn.tolist(), key=lambda i: -scores[i])
    if len(chosen) < n:
        taken = set(chosen)
        chosen += [int(i) for i in by_score if int(i) not in taken][: n - len(chosen)]
    return chosen
