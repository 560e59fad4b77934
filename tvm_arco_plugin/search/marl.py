"""Multi-agent actor-critic exploration of a config space inside a cost model (ARCO's MARL module).

Read top to bottom like CleanRL's ppo.py:

1. every agent (hardware, scheduling, mapping) has its own actor that sees only its local
   observation: its own knobs (scaled to [0, 1]), the current predicted score and the time step;
2. one centralized critic sees the joint state: every knob, the score and the time step;
3. a batch of walkers moves through the space for ``horizon`` steps; at each step every agent picks
   one move per knob it owns, the joint move is applied, and all agents receive the same reward:
   the cost model's predicted (normalised) throughput of the new config, minus a penalty when the
   joint move lands on an invalid config (the walker then stays where it was);
4. advantages come from GAE on the centralized critic's values (centralized training); each actor is
   updated with the PPO clipped objective on its own log-probabilities (decentralized execution:
   acting needs only the actor and the local observation).

The agents, the critic and the optimizer persist across exploration rounds of one task, so the
agents keep learning while the cost model improves.
"""
import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .knobs import KnobLayout

# Move set per knob: large step down, one down, stay, one up, large step up (in knob-index units).
N_MOVES = 5


@dataclass
class PPOSettings:
    walkers: int = 32
    horizon: int = 16
    learning_rate: float = 3e-4
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.9
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    invalid_penalty: float = 0.5
    hidden: int = 64


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Actor(nn.Module):
    """Decentralised policy of one agent: local observation -> one categorical move per owned knob."""

    def __init__(self, obs_dim, n_knobs, hidden):
        super().__init__()
        self.n_knobs = n_knobs
        self.net = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            # Small final std: the initial policy is close to uniform over moves.
            layer_init(nn.Linear(hidden, n_knobs * N_MOVES), std=0.01),
        )

    def logits(self, obs):
        return self.net(obs).view(-1, self.n_knobs, N_MOVES)


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
def _single_torch_thread():
    # The networks are tiny: one thread is faster than two here, and keeps results bit-identical.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def move_table(dims):
    """Per knob, the index offset of each of the N_MOVES moves."""
    big = np.maximum(2, np.round(dims / 4.0)).astype(np.int64)
    return np.stack([-big, -np.ones_like(big), np.zeros_like(big), np.ones_like(big), big], axis=1)


class MultiAgentExplorer:
    """Three cooperating actor-critic agents walking a config space inside a surrogate."""

    def __init__(self, layout: KnobLayout, seed=0, settings=None):
        self.layout = layout
        self.settings = settings or PPOSettings()
        self.moves = move_table(layout.dims)
        self.np_rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(int(seed))
        s = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.actors = nn.ModuleDict({
                agent: Actor(len(layout.columns[agent]) + 2, len(layout.columns[agent]), s.hidden)
                for agent in layout.agents
            })
            self.critic = CentralCritic(len(layout.dims) + 2, s.hidden)
        params = list(self.actors.parameters()) + list(self.critic.parameters())
        self.optimizer = torch.optim.Adam(params, lr=s.learning_rate, eps=1e-5)
        self.rounds = 0

    # ---- observations -------------------------------------------------------------------------
    def _context(self, score, step):
        steps = np.full_like(score, step / max(self.settings.horizon, 1))
        return np.stack([score, steps], axis=1).astype(np.float32)

    def local_observation(self, agent, knobs, score, step):
        own = self.layout.normalise(knobs)[:, self.layout.columns[agent]]
        return np.concatenate([own, self._context(score, step)], axis=1)

    def global_state(self, knobs, score, step):
        return np.concatenate([self.layout.normalise(knobs), self._context(score, step)], axis=1)

    # ---- acting (decentralised) ---------------------------------------------------------------
    def act(self, knobs, score, step):
        """Every agent samples moves for its own knobs from its local observation only."""
        proposal = knobs.copy()
        actions, logprobs = {}, {}
        with torch.no_grad():
            for agent in self.layout.agents:
                obs = torch.from_numpy(self.local_observation(agent, knobs, score, step))
                probs = torch.softmax(self.actors[agent].logits(obs), dim=-1)
                flat = probs.reshape(-1, N_MOVES)
                action = torch.multinomial(flat, 1, generator=self.torch_rng).view(probs.shape[:2])
                logprobs[agent] = torch.log(probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)).sum(-1).numpy()
                cols = self.layout.columns[agent]
                step_size = np.take_along_axis(self.moves[cols][None, :, :], action.numpy()[:, :, None], 2)[:, :, 0]
                proposal[:, cols] = np.clip(knobs[:, cols] + step_size, 0, self.layout.dims[cols] - 1)
                actions[agent] = action.numpy()
        return proposal, actions, logprobs

    # ---- one exploration round ----------------------------------------------------------------
    def explore(self, starts, score_fn, valid_fn):
        """Walk from ``starts`` (knob matrix) for ``horizon`` steps, learn from it, return what was seen.

        ``score_fn(knob_matrix) -> predicted normalised throughput``; ``valid_fn(knob_matrix) -> bool``.
        Returns (knob matrix of every config reached, their predicted scores).
        """
        s = self.settings
        knobs = np.array(starts, dtype=np.int64)
        score = np.asarray(score_fn(knobs), dtype=np.float32)
        per_agent = lambda: {a: [] for a in self.layout.agents}  # noqa: E731
        buffer = {"state": [], "reward": [], "obs": per_agent(), "action": per_agent(), "logprob": per_agent()}
        seen_knobs, seen_scores = [knobs], [score]
        for step in range(s.horizon):
            buffer["state"].append(self.global_state(knobs, score, step))
            for agent in self.layout.agents:
                buffer["obs"][agent].append(self.local_observation(agent, knobs, score, step))
            proposal, actions, logprob = self.act(knobs, score, step)
            valid = np.asarray(valid_fn(proposal), dtype=bool)
            knobs = np.where(valid[:, None], proposal, knobs)
            new_score = score.copy()
            if valid.any():
                new_score[valid] = score_fn(knobs[valid])
            reward = new_score - s.invalid_penalty * (~valid)
            score = new_score
            buffer["reward"].append(reward.astype(np.float32))
            for agent in self.layout.agents:
                buffer["action"][agent].append(actions[agent])
                buffer["logprob"][agent].append(logprob[agent])
            seen_knobs.append(knobs[valid])
            seen_scores.append(score[valid])
        final_state = self.global_state(knobs, score, s.horizon)
        self._update(buffer, final_state)
        self.rounds += 1
        return np.concatenate(seen_knobs), np.concatenate(seen_scores)

    # ---- learning (centralised critic) --------------------------------------------------------
    def _update(self, buffer, final_state):
        s = self.settings
        with _single_torch_thread():
            states = torch.from_numpy(np.stack(buffer["state"]))  # [T, W, state_dim]
            rewards = torch.from_numpy(np.stack(buffer["reward"]))  # [T, W]
            with torch.no_grad():
                values = self.critic(states)
                next_value = self.critic(torch.from_numpy(final_state))
            # GAE over a fixed horizon: the last step bootstraps from the critic (truncation, not termination).
            advantages = torch.zeros_like(rewards)
            last_gae = torch.zeros_like(next_value)
            for t in reversed(range(s.horizon)):
                following = next_value if t == s.horizon - 1 else values[t + 1]
                delta = rewards[t] + s.gamma * following - values[t]
                last_gae = delta + s.gamma * s.gae_lambda * last_gae
                advantages[t] = last_gae
            returns = advantages + values

            n = rewards.numel()
            flat_states = states.reshape(n, -1)
            flat_adv, flat_ret = advantages.reshape(n), returns.reshape(n)

            def flat(key, agent):
                return torch.from_numpy(np.stack(buffer[key][agent])).reshape(n, -1)

            flat_obs = {a: flat("obs", a) for a in self.layout.agents}
            flat_act = {a: flat("action", a) for a in self.layout.agents}
            flat_old = {a: flat("logprob", a).squeeze(-1) for a in self.layout.agents}
            batch = max(1, n // s.minibatches)
            for _ in range(s.epochs):
                order = torch.from_numpy(self.np_rng.permutation(n))
                for start in range(0, n, batch):
                    mb = order[start:start + batch]
                    adv = flat_adv[mb]
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(mb) > 1 else adv
                    # MAPPO: every agent clips its own ratio against the shared, critic-based advantage.
                    pg_loss, entropy = 0.0, 0.0
                    for agent in self.layout.agents:
                        dist = torch.distributions.Categorical(logits=self.actors[agent].logits(flat_obs[agent][mb]))
                        ratio = (dist.log_prob(flat_act[agent][mb]).sum(-1) - flat_old[agent][mb]).exp()
                        clipped = ratio.clamp(1 - s.clip_coef, 1 + s.clip_coef)
                        pg_loss = pg_loss + torch.max(-adv * ratio, -adv * clipped).mean()
                        entropy = entropy + dist.entropy().sum(-1).mean()
                    v_loss = 0.5 * ((self.critic(flat_states[mb]) - flat_ret[mb]) ** 2).mean()
                    loss = pg_loss - s.ent_coef * entropy + s.vf_coef * v_loss
                    self.optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(list(self.actors.parameters()) + list(self.critic.parameters()),
                                             s.max_grad_norm)
                    self.optimizer.step()
