"""ARCO's multi-agent actor-critic explorer: the agents walk the config space inside the cost model.

Read top to bottom like CleanRL's ppo.py:

1. the config space is split among the agents (hardware, scheduling, mapping; ``knobs.KnobLayout``);
   every agent has its own actor that sees only its local observation: its own knobs (each scaled to
   [0, 1], or the features the layout gives it), the cost model's score of the current config and the
   time step;
2. one centralized critic sees the joint state: every knob, the score and the time step;
3. a batch of walkers moves through the space; at each step every agent picks ONE action: leave its
   knobs alone, or set one of its knobs to one of its values (or, for a knob with moves, such as a
   MetaSchedule tiling, make one of its moves from the current value). The joint action changes at most one
   knob per agent (the neighbourhood of AutoTVM's own simulated annealing, one knob per agent), so
   the agents must coordinate to change several knobs at once;
4. all agents receive the same reward: the cost model's score of the config reached if nobody in
   this round has visited it before, 0 for a config already visited or measured, and a penalty for
   a config outside the space's valid set (the walker then stays). So a good round is one whose
   walks pass through many new configs the model rates highly: exactly the candidates Confidence
   Sampling wants to choose from (``reward_source="measured"`` rewards real measurements instead:
   ``remember_outcomes``);
5. advantages come from GAE on the centralized critic's values (centralized training); each actor is
   updated with the PPO clipped objective on its own log-probabilities (decentralized execution:
   acting needs only the actor and the local observation).

The networks and the optimizer persist across the rounds of one task, so what the agents learnt
about the model's landscape carries over while the model is refit under them. ``learning=False``
keeps the initial (near-uniform) policy: the ablation that shows what learning contributes.
"""
import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .knobs import KnobLayout

@dataclass
class PPOSettings:
    walkers: int = 64
    horizon: int = 32
    learning_rate: float = 1e-3
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.9
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    ent_coef: float = 0.003
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    invalid_penalty: float = 0.5
    hidden: int = 64
    # Left at 0, the policy's entropy falls round after round (to about 0.45 of a uniform policy's by the
    # end of a 1,000-trial co-design run), and the walks grow alike. entropy_floor: a round's walk teaches
    # the agents only while their entropy ratio is at least this. entropy_target: the entropy coefficient
    # doubles after a round below this ratio and halves after one above it (never below ent_coef). Off by
    # default: at 0.8, neither ended better than learning off on the joint spaces (docs/benchmarks.md).
    entropy_floor: float = 0.0
    entropy_target: float = 0.0
    # What the agents learn from. "model": every new config a walk reaches pays its cost-model score (the
    # paper's reward; the PPO update above). "measured": only real measurements teach: the move that reached
    # a config later measured is rewarded with its throughput relative to the best measured (0 if it failed),
    # and every round PPO's clipped objective runs over all such moves so far, each against the probability
    # its action had when it was made (so an old move cannot pull the policy further than the clip allows).
    # Why: on every space measured, agents that follow the model harder found slower configs. "random": the
    # same moves, each rewarded with a uniform draw from [0, 1]: the control for what the measurements teach.
    # Both off by default: on the joint spaces neither ended better than learning off, and measured rewards
    # did no better than random ones (docs/benchmarks.md).
    reward_source: str = "model"
    moves_kept_walks: int = 8  # a move is forgotten if its config is not measured within this many walks

    def __post_init__(self):
        if self.reward_source not in ("model", "measured", "random"):
            raise ValueError(f"reward_source must be 'model', 'measured' or 'random', not {self.reward_source!r}")


class Adam:
    """Adam (Kingma and Ba), with the arithmetic of ``torch.optim.Adam``'s CPU path, op for op, so the
    parameters after every step are bit-identical to it (tested). It exists because every
    ``torch.optim`` optimizer imports ``torch._dynamo`` on first use, 1.2-1.7 s once per process: over a
    quarter of the strategy's time in a fresh process's 64-trial matmul tune (docs/metaschedule.md)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [0] * len(self.params)  # per parameter, as torch counts: one without a gradient waits

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for i, (p, exp_avg, exp_avg_sq) in enumerate(zip(self.params, self.exp_avg, self.exp_avg_sq)):
            if p.grad is None:
                continue
            self.steps[i] += 1
            exp_avg.lerp_(p.grad, 1 - self.beta1)
            exp_avg_sq.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            step_size = self.lr / (1 - self.beta1 ** self.steps[i])
            bias_correction2_sqrt = (1 - self.beta2 ** self.steps[i]) ** 0.5
            p.addcdiv_(exp_avg, (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps), value=-step_size)


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Actor(nn.Module):
    """Decentralised policy of one agent: local observation -> one categorical over its actions."""

    def __init__(self, obs_dim, n_actions, hidden):
        super().__init__()
        self.net = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            # Small final std: the initial policy is close to uniform over actions.
            layer_init(nn.Linear(hidden, n_actions), std=0.01),
        )

    def forward(self, obs):
        return self.net(obs)


class CentralCritic(nn.Module):
    """Value of the joint state, seen only during training."""

    def __init__(self, state_dim, hidden):
        super().__init__()
        self.net = nn.Sequential(
            layer_init(nn.Linear(state_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )

    def forward(self, state):
        return self.net(state).squeeze(-1)


@contextlib.contextmanager
def single_torch_thread():
    # The networks are tiny: one thread is faster than two here, and keeps results bit-identical.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def action_table(sizes):
    """Per agent, action a > 0 is one action on one of its knobs (``KnobLayout.act_on``: a value to set,
    or a move); action 0 leaves its knobs alone. ``sizes``: the number of actions on each of the agent's
    knobs. Returns an [n_actions, 2] array of (knob position within the agent's columns, action on the
    knob); row 0 is (-1, -1)."""
    rows = [(-1, -1)] + [(k, v) for k, size in enumerate(np.asarray(sizes, dtype=np.int64)) for v in range(size)]
    return np.array(rows, dtype=np.int64)


@dataclass
class Walk:
    """What one exploration round saw: every config reached (knob rows, by first visit) with its score."""
    knobs: np.ndarray  # [n, n_knobs]
    scores: np.ndarray  # [n]
    from_start: np.ndarray  # [n] bool: a walk's starting config (reached by no move)
    entropy_ratio: float  # mean over agents and states of H(policy) / H(uniform)


class MultiAgentExplorer:
    """The cooperating actor-critic agents of one task, and their centralized critic."""

    def __init__(self, layout: KnobLayout, seed=0, settings=None, learning=True):
        self.layout = layout
        self.settings = settings or PPOSettings()
        self.learning = learning
        self.actions = {a: action_table(layout.action_sizes[layout.columns[a]]) for a in layout.agents}
        self.np_rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(int(seed))
        s = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.actors = nn.ModuleDict({
                agent: Actor(len(layout.observation_columns[agent]) + 2, len(self.actions[agent]), s.hidden)
                for agent in layout.agents
            })
            self.critic = CentralCritic(layout.observation_width + 2, s.hidden)
        self.optimizer = Adam(self._parameters(), lr=s.learning_rate, eps=1e-5)
        self.ent_coef = s.ent_coef
        self.rounds = 0
        # With a reward from measurements ("measured", "random"): per recent walk, config index -> the move
        # that first reached it (global state, each agent's observation, action and its log-probability); and
        # the moves whose config was measured.
        self.recent_moves = []
        self.measured_moves = {"state": [], "reward": [], **{key: {a: [] for a in layout.agents}
                                                             for key in ("obs", "action", "logprob")}}

    def _parameters(self):
        return list(self.actors.parameters()) + list(self.critic.parameters())

    # ---- observations -------------------------------------------------------------------------
    def _context(self, score, clock):
        """``clock``: the fraction of the walk done (step / horizon)."""
        return np.stack([score, np.full_like(score, clock)], axis=1).astype(np.float32)

    def observations(self, knobs, score, clock):
        """The critic's global state (every knob, score, clock) and each agent's local observation (its
        own knobs, score, clock), from one ``KnobLayout.observe`` of the walkers' configs."""
        seen, context = self.layout.observe(knobs), self._context(score, clock)
        local = {agent: np.concatenate([seen[:, self.layout.observation_columns[agent]], context], axis=1)
                 for agent in self.layout.agents}
        return np.concatenate([seen, context], axis=1), local

    # ---- acting (decentralised) ---------------------------------------------------------------
    def act(self, knobs, local):
        """Every agent samples one action from its local observation only (``local``: agent -> its
        observation of the walkers, from ``observations``); returns the joint move."""
        proposal = knobs.copy()
        actions, logprobs, entropy = {}, {}, []
        with torch.no_grad():
            for agent in self.layout.agents:
                obs = torch.from_numpy(local[agent])
                dist = torch.distributions.Categorical(logits=self.actors[agent](obs))
                action = torch.multinomial(dist.probs, 1, generator=self.torch_rng).squeeze(-1)
                logprobs[agent] = dist.log_prob(action).numpy()
                entropy.append(float(dist.entropy().mean()) / np.log(max(len(self.actions[agent]), 2)))
                which, on_knob = self.actions[agent][action.numpy()].T
                walkers = np.flatnonzero(which >= 0)
                positions = self.layout.columns[agent][which[walkers]]
                proposal[walkers, positions] = self.layout.act_on(positions, knobs[walkers, positions],
                                                                  on_knob[walkers])
                actions[agent] = action.numpy()
        return proposal, actions, logprobs, float(np.mean(entropy))

    # ---- one exploration round ----------------------------------------------------------------
    def explore(self, starts, score_fn, valid_fn, is_new, budget, horizon=None, known=None):
        """Walk from ``starts`` (knob matrix) until ``budget`` distinct configs were scored or the horizon
        ends; learn from it (unless frozen); return the :class:`Walk`.

        ``score_fn(knob_matrix) -> scores`` (the cost model; called only on configs not scored yet this
        round), ``valid_fn(knob_matrix) -> bool``, ``is_new(indexes) -> bool`` (not measured before).
        ``horizon``:
        steps of this walk (default the settings'; the time step the agents observe is step / horizon).
        ``known``: index -> score of configs an earlier walk of this round scored; they count as visited
        (not scored again, no reward, not in the budget) and are not returned.
        """
        s, layout = self.settings, self.layout
        horizon = horizon or s.horizon
        knobs = np.array(starts, dtype=np.int64)
        known = known or {}
        seen = dict(known)  # index -> score, in the order first reached
        start_index = layout.to_index(knobs)
        fresh = [w for w, i in enumerate(start_index.tolist()) if i not in known]
        if fresh:
            scores = np.asarray(score_fn(knobs[fresh]), dtype=np.float32).tolist()
            for index, value in zip(start_index[fresh].tolist(), scores):
                seen.setdefault(index, value)
        starts_seen = set(seen) - set(known)
        budget += len(known)
        score = np.array([seen[i] for i in start_index.tolist()], dtype=np.float32)
        per_agent = lambda: {a: [] for a in layout.agents}  # noqa: E731
        buffer = {"state": [], "reward": [], "obs": per_agent(), "action": per_agent(), "logprob": per_agent()}
        entropies = []
        moves = {}
        if s.reward_source != "model":
            self.recent_moves = (self.recent_moves + [moves])[-s.moves_kept_walks:]
        for step in range(horizon):
            if len(seen) >= budget:
                break
            clock = step / horizon
            state, local = self.observations(knobs, score, clock)
            buffer["state"].append(state)
            for agent in layout.agents:
                buffer["obs"][agent].append(local[agent])
            proposal, actions, logprob, entropy = self.act(knobs, local)
            entropies.append(entropy)
            valid = np.asarray(valid_fn(proposal), dtype=bool)
            moved = np.where(valid[:, None], proposal, knobs)
            # New configs are admitted in walker order while the budget lasts; a walker whose new config
            # does not fit stays where it is. A config two walkers reach at once rewards the first.
            first, admitted = np.zeros(len(knobs), dtype=bool), []
            for w, i in enumerate(layout.to_index(moved).tolist()):
                if i not in seen and i not in admitted and len(seen) + len(admitted) < budget:
                    admitted.append(i)
                    first[w] = True
                elif i not in seen and i not in admitted:
                    moved[w] = knobs[w]
            knobs = moved
            index = layout.to_index(knobs)
            if admitted:
                seen.update(zip(admitted, np.asarray(score_fn(layout.to_knobs(admitted)), dtype=np.float32).tolist()))
            if s.reward_source != "model":
                for w in np.flatnonzero(first).tolist():
                    moves[int(index[w])] = (state[w], {a: (local[a][w], int(actions[a][w]), float(logprob[a][w]))
                                                       for a in layout.agents})
            novel = first & np.asarray(is_new(index), dtype=bool)
            score = np.array([seen[i] for i in index.tolist()], dtype=np.float32)
            reward = np.where(novel, score, 0.0) - s.invalid_penalty * (~valid)
            buffer["reward"].append(reward.astype(np.float32))
            for agent in layout.agents:
                buffer["action"][agent].append(actions[agent])
                buffer["logprob"][agent].append(logprob[agent])
        entropy_ratio = float(np.mean(entropies)) if entropies else 1.0
        if s.entropy_target > 0:
            self.ent_coef = max(s.ent_coef, min(1.0, self.ent_coef * (2.0 if entropy_ratio < s.entropy_target else 0.5)))
        if self.learning and entropy_ratio >= s.entropy_floor:
            if s.reward_source != "model":
                if len(self.measured_moves["reward"]) >= 2:
                    self._learn_from_measured_moves()
            elif buffer["reward"]:
                self._update(buffer, self.observations(knobs, score, len(buffer["reward"]) / horizon)[0])
        self.rounds += 1
        new = {i: v for i, v in seen.items() if i not in known}
        indexes = np.fromiter(new, dtype=np.int64, count=len(new))
        return Walk(layout.to_knobs(indexes), np.fromiter(new.values(), dtype=np.float32, count=len(new)),
                    np.isin(indexes, list(starts_seen)), entropy_ratio)

    # ---- learning from measurements (reward_source "measured" or "random") -------------------
    def remember_outcomes(self, indexes, rewards):
        """Measured configs' rewards (throughput relative to the best, 0 for a failure): the moves of recent
        walks that reached them join the moves the agents learn from."""
        kept, random_rewards = self.measured_moves, self.settings.reward_source == "random"
        for index, reward in zip(indexes, rewards):
            for moves in self.recent_moves:
                move = moves.pop(int(index), None)
                if move is not None:
                    state, per_agent = move
                    kept["state"].append(state)
                    for agent, (obs, action, logprob) in per_agent.items():
                        kept["obs"][agent].append(obs)
                        kept["action"][agent].append(action)
                        kept["logprob"][agent].append(logprob)
                    kept["reward"].append(float(self.np_rng.random()) if random_rewards else float(reward))
                    break

    def _learn_from_measured_moves(self):
        """PPO on every measured move so far, each a one-step episode: advantage = measured reward minus the
        centralized critic's value of the joint state it was made from; every actor clips its own ratio
        against the log-probability its action had when the move was made."""
        s, kept, agents = self.settings, self.measured_moves, self.layout.agents
        with single_torch_thread():
            states = torch.from_numpy(np.stack(kept["state"]))
            rewards = torch.tensor(kept["reward"], dtype=torch.float32)
            obs = {a: torch.from_numpy(np.stack(kept["obs"][a])) for a in agents}
            actions = {a: torch.tensor(kept["action"][a], dtype=torch.int64) for a in agents}
            old = {a: torch.tensor(kept["logprob"][a], dtype=torch.float32) for a in agents}
            n = len(rewards)
            batch = max(2, n // s.minibatches)
            for _ in range(s.epochs):
                order = torch.from_numpy(self.np_rng.permutation(n))
                for start in range(0, n, batch):
                    mb = order[start:start + batch]
                    if len(mb) < 2:  # a lone move has no advantage to normalise
                        continue
                    values = self.critic(states[mb])
                    adv = (rewards[mb] - values).detach()
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    self._ppo_step({a: obs[a][mb] for a in agents}, {a: actions[a][mb] for a in agents},
                                   {a: old[a][mb] for a in agents}, adv, values, rewards[mb])

    def _ppo_step(self, obs, actions, old_logprobs, advantages, values, returns):
        """One PPO-clip step on a minibatch (MAPPO: every agent clips its own ratio against the shared,
        critic-based advantage). ``values``: the critic's values of the minibatch's joint states."""
        s = self.settings
        pg_loss, entropy = 0.0, 0.0
        for agent in self.layout.agents:
            dist = torch.distributions.Categorical(logits=self.actors[agent](obs[agent]))
            ratio = (dist.log_prob(actions[agent]) - old_logprobs[agent]).exp()
            clipped = ratio.clamp(1 - s.clip_coef, 1 + s.clip_coef)
            pg_loss = pg_loss + torch.max(-advantages * ratio, -advantages * clipped).mean()
            entropy = entropy + dist.entropy().mean()
        v_loss = 0.5 * ((values - returns) ** 2).mean()
        loss = pg_loss - self.ent_coef * entropy + s.vf_coef * v_loss
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self._parameters(), s.max_grad_norm)
        self.optimizer.step()

    # ---- learning (centralised critic) --------------------------------------------------------
    def _update(self, buffer, final_state):
        s = self.settings
        steps = len(buffer["reward"])
        with single_torch_thread():
            states = torch.from_numpy(np.stack(buffer["state"]))  # [T, W, state_dim]
            rewards = torch.from_numpy(np.stack(buffer["reward"]))  # [T, W]
            with torch.no_grad():
                values = self.critic(states)
                next_value = self.critic(torch.from_numpy(final_state))
            # GAE over a truncated walk: the last step bootstraps from the critic.
            advantages = torch.zeros_like(rewards)
            last_gae = torch.zeros_like(next_value)
            for t in reversed(range(steps)):
                following = next_value if t == steps - 1 else values[t + 1]
                delta = rewards[t] + s.gamma * following - values[t]
                last_gae = delta + s.gamma * s.gae_lambda * last_gae
                advantages[t] = last_gae
            returns = advantages + values

            n = rewards.numel()
            flat_states = states.reshape(n, -1)
            flat_adv, flat_ret = advantages.reshape(n), returns.reshape(n)

            def flat(key, agent):
                stacked = np.stack(buffer[key][agent])  # [T, W, ...]
                return torch.from_numpy(stacked.reshape(n, *stacked.shape[2:]))

            agents = self.layout.agents
            flat_obs = {a: flat("obs", a) for a in agents}
            flat_act = {a: flat("action", a) for a in agents}
            flat_old = {a: flat("logprob", a) for a in agents}
            batch = max(1, n // s.minibatches)
            for _ in range(s.epochs):
                order = torch.from_numpy(self.np_rng.permutation(n))
                for start in range(0, n, batch):
                    mb = order[start:start + batch]
                    adv = flat_adv[mb]
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(mb) > 1 else adv
                    self._ppo_step({a: flat_obs[a][mb] for a in agents}, {a: flat_act[a][mb] for a in agents},
                                   {a: flat_old[a][mb] for a in agents}, adv, self.critic(flat_states[mb]),
                                   flat_ret[mb])


class HardwareLeader:
    """The hardware agent's choice of a whole hardware configuration, learnt from real measurements.

    One categorical per hardware knob (a stateless policy: the hardware does not depend on a state).
    Every round it proposes hardware; the engine measures the best measured config's schedule on that
    hardware, and the measured throughput (relative to the best so far) is the hardware agent's reward:
    REINFORCE with a running-mean baseline. So the hardware is explored by a policy that learns which
    hardware pays off when measured, not by the cost model's guess alone.
    ``learning=False`` keeps the uniform policy (the frozen ablation).
    """

    def __init__(self, dims, seed=0, learning_rate=0.5, baseline_decay=0.9, learning=True):
        self.dims = [int(d) for d in dims]
        self.logits = [np.zeros(d) for d in self.dims]
        self.rng = np.random.default_rng([int(seed), 1])
        self.learning_rate, self.baseline_decay, self.learning = learning_rate, baseline_decay, learning
        self.baseline = None

    def probabilities(self):
        return [np.exp(l - l.max()) / np.exp(l - l.max()).sum() for l in self.logits]

    def sample(self, n):
        """``n`` hardware choices: rows of value indexes, one column per hardware knob."""
        probs = self.probabilities()
        return np.stack([self.rng.choice(len(p), size=n, p=p) for p in probs], axis=1)

    def learn(self, choice, reward):
        if not self.learning:
            return
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        for logits, p, value in zip(self.logits, self.probabilities(), choice):
            grad = -p
            grad[value] += 1.0  # d log p(value) / d logits
            logits += self.learning_rate * advantage * grad
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward

    def entropy_ratio(self):
        ratios = [-(p * np.log(np.maximum(p, 1e-12))).sum() / np.log(len(p)) for p in self.probabilities()
                  if len(p) > 1]
        return float(np.mean(ratios)) if ratios else 1.0
