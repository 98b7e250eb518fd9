"""RL agents that learn inside the learned simulator (stable-baselines3).

The repository's ``agents/`` folder, installed as ``lcvg_agents`` (modules below are named by folder;
they import each other relatively).

- :mod:`agents.config`: the run's ``Args`` dataclass and per-algorithm defaults.
- :mod:`agents.train`: ``train(Args)``: PPO, SAC or DQN on the batched vector env, with evaluation,
  checkpoints, TensorBoard logs and a video of the trained agent.
- evaluation of any policy: :mod:`lcvg_env.evaluation.policy` (``evaluate_policy``, one seeded loop).
- :mod:`agents.policies`: the random and scripted reference controllers.
- :mod:`agents.networks`: a CoordConv features extractor for frames of any size >= 16 px.
- :mod:`agents.envs`: the batched env stacks (gymnasium vector env; SB3 adapter, discrete moves).
- :mod:`agents.safe_format`, :mod:`agents.safe_json`: the pickle-free agent format (weights in
  ``.safetensors``, policy, spaces and env keywords in ``.json``, classes from an allow-list).
- :mod:`agents.loading`: what ``lcvg agent eval MODEL`` evaluates (run folder, safe agent, a trusted
  SB3 .zip, baselines) and ``convert_model``.
- :mod:`agents.cli`: ``lcvg agent train``, ``lcvg agent eval`` and ``lcvg agent convert``.

Modules load on first use: ``import lcvg_agents`` imports neither torch nor stable-baselines3.
"""

from __future__ import annotations
