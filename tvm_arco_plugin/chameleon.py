"""CHAMELEON (Ahn et al., ICLR 2020, arXiv 2001.08743) as an AutoTVM tuner: ARCO's reference baseline.

A baseline, not the product. It follows the behaviour of the authors' released code
(anony-sub/chameleon, ``tuner/rl_model_optimizer.py``, ``tuner/adaptive_sampler.py``), rewritten in
torch on the AutoTVM of this install:

* **Adaptive exploration**: a PPO agent walks the space inside the XGBoost cost model (regression
  loss). Each knob gets one action in {decrement, stay, increment}; the observation is the knob
  indexes divided by the knob sizes; a walk starts from a random config and stops after ``n_iter``
  steps or once at least 75% of the knobs "stay" or sit at a bound. The whole trajectory is scored by
  one cost-model call, and the agent makes one PPO update per trajectory. The ``num`` best predicted,
  unvisited configs are the candidates.
* **Adaptive sampling**: k-means on the two knobs with the most options, for k = 8, 16, ... up to the
  plan size; the first k whose loss is not at least 2.5x smaller than the previous one is the knee.
* **Sample synthesis**: one config per centroid: the two clustered knobs take the centroid, every
  other knob a value drawn from the candidates, re-drawn until the config is new.
* The cost model is refit after each reduced batch (the published ``next_update += len(samples)``),
  not after every ``plan_size`` measurements; the first ``plan_size`` trials are random, as in the
  published code, and AutoTVM's epsilon-greedy rule (the last 5% of ``plan_size`` slots of a plan are
  random) is kept.

Deviations, all for speed on a 2-core CPU and documented in docs/benchmarks.md: the walkers of one
round move in lock-step (one batched policy call per step) instead of one after another, so all
trajectories of a round are sampled with the policy of the round's start; the PPO updates still run
one per trajectory, in order.
"""
import heapq
import random

import numpy as np
import torch
from torch import nn
from tvm.autotvm.tuner.model_based_tuner import ModelBasedTuner, ModelOptimizer
from tvm.autotvm.tuner.xgboost_cost_model import XGBoostCostModel

from .search.knobs import KnobLayout
from .search.marl import Adam, single_torch_thread
from .tuner import throughput

DECREMENT, STAY, INCREMENT = 0, 1, 2


class ChameleonPolicy(nn.Module):
    """Policy and value towers of the published network (TF1 there, torch here)."""

    def __init__(self, n_knobs, hidden=20, temperature=0.1):
        super().__init__()
        self.temperature = temperature
        self.trunk = nn.Sequential(nn.Linear(n_knobs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.heads = nn.ModuleList(
            nn.ModuleList([nn.Sequential(nn.Linear(hidden, 3), nn.Tanh(), nn.Linear(3, 3), nn.Tanh()),
                           nn.Linear(3, 3)])
            for _ in range(n_knobs))
        self.value = nn.Sequential(nn.Linear(n_knobs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def logits(self, obs):
        trunk = self.trunk(obs)
        return torch.stack([out(inner(trunk) / self.temperature) for inner, out in self.heads], dim=1)


class ChameleonOptimizer(ModelOptimizer):
    """``find_maximums`` by PPO walks inside the cost model (CHAMELEON's adaptive exploration)."""

    def __init__(self, task, n_iter=500, parallel_size=128, seed=0, learning_rate=1e-3, epochs=3,
                 minibatch=32, gamma=0.9, gae_lambda=0.99, clip=0.2, vf_coef=1.0, ent_coef=0.3):
        super().__init__()
        self.space = task.config_space
        self.layout = KnobLayout.from_config_space(self.space)
        self.n_iter, self.parallel_size = n_iter, min(parallel_size, len(self.space))
        self.epochs, self.minibatch = epochs, minibatch
        self.gamma, self.gae_lambda, self.clip = gamma, gae_lambda, clip
        self.vf_coef, self.ent_coef = vf_coef, ent_coef
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.policy = ChameleonPolicy(len(self.layout.dims))
        self.optimizer = Adam(self.policy.parameters(), lr=learning_rate, eps=1e-5)

    def _observe(self, knobs):
        return torch.from_numpy(knobs.astype(np.float32) / self.layout.dims.astype(np.float32))

    def _random_valid(self, n):
        starts = []
        while len(starts) < n:
            index = int(self.rng.integers(self.space.range_length))
            if self.space.is_index_valid(index):
                starts.append(index)
        return self.layout.to_knobs(starts)

    def walk(self):
        """All walkers in lock-step; returns one (knob states, actions, log-probs) trajectory per walker."""
        knobs = self._random_valid(self.parallel_size)
        active = np.ones(len(knobs), dtype=bool)
        states, actions, logprobs = [[] for _ in knobs], [[] for _ in knobs], [[] for _ in knobs]
        for w, start in enumerate(knobs):
            states[w].append(start.copy())
        for _ in range(self.n_iter):
            rows = np.flatnonzero(active)
            if not len(rows):
                break
            with torch.no_grad():
                probs = torch.softmax(self.policy.logits(self._observe(knobs[rows])), dim=-1)
                action = torch.multinomial(probs.reshape(-1, 3), 1, generator=self.torch_rng).view(probs.shape[:2])
                logprob = torch.log(probs.gather(-1, action.unsqueeze(-1)).squeeze(-1))
            action = action.numpy()
            moved = np.clip(knobs[rows] + action - 1, 0, self.layout.dims - 1)
            # A walker whose move lands on an invalid config (multi_filter spaces) stays where it was.
            valid = np.array([self.space.is_index_valid(int(i)) for i in self.layout.to_index(moved)])
            moved[~valid] = knobs[rows][~valid]
            settled = (action == STAY) | (moved == 0) | (moved == self.layout.dims - 1)
            knobs[rows] = moved
            for j, w in enumerate(rows):
                actions[w].append(action[j])
                logprobs[w].append(logprob[j].numpy())
                states[w].append(moved[j].copy())
            active[rows[settled.sum(axis=1) >= 0.75 * len(self.layout.dims)]] = False
        n_knobs = len(self.layout.dims)
        return [(np.array(s), np.array(a, dtype=np.int64).reshape(-1, n_knobs),
                 np.array(lp, dtype=np.float32).reshape(-1, n_knobs))
                for s, a, lp in zip(states, actions, logprobs)]

    def _ppo_update(self, states, actions, old_logprob, rewards):
        obs, next_obs = self._observe(states[:-1]), self._observe(states[1:])
        rewards = torch.from_numpy(rewards.astype(np.float32))
        with torch.no_grad():
            values, next_values = self.policy.value(obs).squeeze(-1), self.policy.value(next_obs).squeeze(-1)
            deltas = rewards + self.gamma * next_values - values
            advantages = torch.zeros_like(rewards)
            running = 0.0
            for t in reversed(range(len(rewards))):
                running = deltas[t] + self.gamma * self.gae_lambda * running
                advantages[t] = running
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8) if len(rewards) > 1 \
                else advantages
            # The published value target is the one-step TD target, not the GAE return.
            targets = rewards + self.gamma * next_values
        actions = torch.from_numpy(actions)
        old_logprob = torch.from_numpy(old_logprob)
        for _ in range(self.epochs):
            mb = torch.from_numpy(self.rng.integers(0, len(rewards), self.minibatch))
            dist = torch.distributions.Categorical(logits=self.policy.logits(obs[mb]))
            # One clipped objective per knob head, summed over knobs, as the published loss.
            ratio = (dist.log_prob(actions[mb]) - old_logprob[mb]).exp()
            clipped = ratio.clamp(1 - self.clip, 1 + self.clip)
            adv = advantages[mb].unsqueeze(-1)
            surrogate = torch.min(ratio * adv, clipped * adv).mean(0).sum()
            entropy = dist.entropy().mean(0).sum()
            value_loss = ((self.policy.value(obs[mb]).squeeze(-1) - targets[mb]) ** 2).mean()
            loss = -(surrogate + self.ent_coef * entropy) + self.vf_coef * value_loss
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def find_maximums(self, model, num, exclusive):
        with single_torch_thread():
            trajectories = self.walk()
            every = np.unique(np.concatenate([self.layout.to_index(s) for s, _, _ in trajectories]))
            predicted = dict(zip(every.tolist(), np.asarray(model.predict(every.tolist())).tolist()))
            best = []
            for index, score in predicted.items():
                if index in exclusive:
                    continue
                if len(best) < num:
                    heapq.heappush(best, (score, index))
                elif score > best[0][0]:
                    heapq.heapreplace(best, (score, index))
            for states, actions, logprob in trajectories:
                if len(actions):
                    rewards = np.array([predicted[i] for i in self.layout.to_index(states[1:]).tolist()])
                    self._ppo_update(states, actions, logprob, rewards)
        return [index for _, index in sorted(best, reverse=True)]


class AdaptiveSampler:
    """k-means knee detection on the two cardinal knobs, then sample synthesis (one config per centroid)."""

    def __init__(self, space, plan_size, step=8, threshold=2.5, cardinal_dims=2, kmeans_iters=100, seed=0):
        self.space = space
        self.layout = KnobLayout.from_config_space(space)
        self.plan_size, self.step, self.threshold = plan_size, step, threshold
        self.cardinal = np.argsort(-self.layout.dims, kind="stable")[:cardinal_dims]
        self.kmeans_iters = kmeans_iters
        self.rng = np.random.default_rng(seed)

    def kmeans(self, points, k):
        centroids = points[self.rng.choice(len(points), k, replace=False)].astype(np.float64)
        for _ in range(self.kmeans_iters):
            distance = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
            label = distance.argmin(1)
            for c in range(k):
                members = points[label == c]
                # An empty cluster is re-seeded on a random point, as the published code does.
                centroids[c] = members.mean(0) if len(members) else points[self.rng.integers(len(points))]
        centroids = centroids.astype(np.int64)  # the published code truncates centroids to ints
        loss = ((points - centroids[((points[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)]) ** 2).sum()
        return centroids, float(loss)

    def choose_centroids(self, points):
        n_distinct = len(np.unique(points, axis=0))
        chosen, previous_loss = None, None
        for k in range(self.step, self.plan_size + 1, self.step):
            if k > n_distinct:
                break
            centroids, loss = self.kmeans(points, k)
            if chosen is not None and not loss * self.threshold <= previous_loss:
                break
            chosen, previous_loss = centroids, loss
        return chosen if chosen is not None else np.unique(points, axis=0)

    def sample(self, candidates, visited):
        """Candidate indexes -> the synthesized configs to measure (never visited, never repeated)."""
        if len(candidates) <= self.step:
            return list(candidates)
        knobs = self.layout.to_knobs(candidates)
        centroids = self.choose_centroids(knobs[:, self.cardinal])
        chosen, taken = [], set(visited)
        for centroid in centroids:
            for _ in range(100):
                config = knobs[self.rng.integers(len(knobs), size=knobs.shape[1]), np.arange(knobs.shape[1])]
                config[self.cardinal] = centroid
                index = int(self.layout.to_index(config))
                if index not in taken and self.space.is_index_valid(index):
                    chosen.append(index)
                    taken.add(index)
                    break
        return chosen or [int(i) for i in candidates if int(i) not in taken][:self.step]


class ChameleonTuner(ModelBasedTuner):
    """CHAMELEON: PPO exploration in the XGBoost cost model + adaptive sampling + sample synthesis."""

    def __init__(self, task, plan_size=64, feature_type="itervar", num_threads=None, seed=0,
                 n_iter=500, parallel_size=128, log_interval=50):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        cost_model = XGBoostCostModel(task, feature_type=feature_type, loss_type="reg",
                                      num_threads=num_threads, log_interval=log_interval // 2)
        optimizer = ChameleonOptimizer(task, n_iter=n_iter, parallel_size=parallel_size, seed=seed)
        super().__init__(task, cost_model, optimizer, plan_size)
        self.sampler = AdaptiveSampler(task.config_space, plan_size, seed=seed)
        self.next_update = plan_size
        self.sampled_batches = []  # sizes of the reduced batches, for inspection

    def update(self, inputs, results):
        for inp, res in zip(inputs, results):
            index = inp.config.index
            flops = throughput(inp.task, res)
            self.xs.append(index)
            self.ys.append(flops)
            self.flops_max = max(self.flops_max, flops)
            self.visited.add(index)
        if len(self.xs) >= self.next_update and self.flops_max > 1e-6:
            self.cost_model.fit(self.xs, self.ys, self.plan_size)
            maximums = self.model_optimizer.find_maximums(self.cost_model, self.plan_size, self.visited)
            samples = self.sampler.sample(maximums, self.visited)
            self.trials, self.trial_pt = samples, 0
            self.train_ct += 1
            self.next_update = len(self.xs) + max(len(samples), 1)
            self.sampled_batches.append(len(samples))

    def tune(self, *args, **kwargs):  # pylint: disable=arguments-differ
        try:
            super().tune(*args, **kwargs)
        finally:
            self.cost_model._close_pool()  # pylint: disable=protected-access
