"""Where the env's KID gap comes from: rendering, one step of motion, or the rollout's drift.

``lcvg env-realism`` compares the env's frames after 30 random steps with real frames (issue 16's target:
KID at most twice real-vs-real). This splits that gap. Every set holds ``--frames`` frames and is
compared, by KID and FID on the Inception pool features (:mod:`lcvg_env.env_realism`), with the same
``--frames`` real frames drawn from ``--data``'s ``--split``. The env is run as a user runs it (bf16,
the checkpoint's bundled generation options), reset from *real* frames of ``--reference`` (another
real set, so that no generated frame starts from a frame it is compared with):

1. ``real vs real``: the ``--reference`` start frames themselves, the floor at this sample size;
2. ``1 step, no action``: one env step from each start frame with the zero action. The mask does not
   move, so this is the autoencoder rendering a real frame through its two layers (with the composite,
   the pixels outside the mask are the input's): the renderer's ceiling;
3. ``1 step, random action``: one step of a uniform random action from each start frame;
4. ``K steps, no action`` (``--still-steps``): the frame after K no-op steps: the drift of re-rendering
   its own output, with no motion;
5. ``env-realism's set``: ``lcvg env-realism``'s frames (the checkpoint's start bank, ``--frames / 30``
   rollouts x 30 random steps, every step scored).

``--env ID`` runs the env with that registered id's settings (its ``players``, ``player_colours`` and
``region``; the task stays ``none``): ``--env LCVG-AtariTennis-v0`` for the two-player model, whose
random actions then move each player by its own control.

``--redraw-only`` computes rows 1 and 2 alone: the renderer's ceiling, to compare model sizes.

If row 2 is already far above row 1, the KID target needs a better renderer (the autoencoder), not
better dynamics; the rows after it say how much motion and the autoregressive rollout add.

    python benchmarks/kid_ceiling.py --checkpoint pusher --data data/pusher --reference data/pusher-ref \
        --frames 1200 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.env.config import EnvConfig
from lcvg_env.env.vector import LCVGVectorEnv
from lcvg_env.env_realism import EnvRealismConfig, compare, env_frames, inception_features, real_frames
from lcvg_env.model import model_path


def env_sets(
    venv: LCVGVectorEnv, starts: np.ndarray, still_steps: int, seed: int, redraw_only: bool = False
) -> dict[str, np.ndarray]:
    """From each real start frame (N, H, W, 3), in the vector env ``venv`` (task none, no time limit):
    one step with no action, one with a random action, and ``still_steps`` steps with no action (with
    ``redraw_only``, the first alone); each uint8 (N, H, W, 3), the env's frames without a goal marker
    (``venv.frames``)."""
    batch_size = venv.num_envs
    rng = np.random.default_rng(seed)
    shape = venv.single_action_space.shape
    zero = np.zeros((batch_size, *shape), np.float32)
    names = ("1 step, no action", "1 step, random action", f"{still_steps} steps, no action")
    out: dict[str, list[np.ndarray]] = {name: [] for name in (names[:1] if redraw_only else names)}
    for lo in range(0, len(starts), batch_size):
        n = min(batch_size, len(starts) - lo)
        index = np.r_[lo : lo + n, np.full(batch_size - n, lo)]  # the last chunk padded with repeats
        random = rng.uniform(-1.0, 1.0, (batch_size, *shape)).astype(np.float32)
        for name, action, steps in (
            (names[0], zero, 1),
            (names[1], random, 1),
            (names[2], zero, still_steps),
        ):
            if name not in out:
                continue
            venv.reset(options={"frames": starts[index]})
            for _ in range(steps):
                venv.step(action)
            out[name].append(venv.frames[:n])
    return {name: np.concatenate(frames) for name, frames in out.items()}


def env_settings(env_id: str | None) -> dict[str, Any]:
    """The EnvConfig fields a registered id sets, less its model name and task (none: no settings)."""
    if env_id is None:
        return {}
    import gymnasium

    import lcvg_env  # noqa: F401  (registers the ids)

    kwargs = dict(gymnasium.spec(env_id).kwargs)
    for key in ("name", "task", "checkpoint"):
        kwargs.pop(key, None)
    return kwargs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="pusher", help="model name or checkpoint file")
    parser.add_argument("--data", default="data/pusher", help="the real frames every set is compared with")
    parser.add_argument("--reference", default="data/pusher-ref", help="a second real set: the start frames")
    parser.add_argument("--split", default="test")
    parser.add_argument("--frames", type=int, default=1200)
    parser.add_argument("--still-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", help="a registered env id whose settings the env runs with (default: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--redraw-only",
        action="store_true",
        help="only the renderer's rows: real vs real and 1 step with no action (a third of the time)",
    )
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    if args.frames < 60 or args.frames % 30:
        parser.error(
            f"--frames must be a multiple of 30 (env-realism's 30-step rollouts), >= 60; got {args.frames}."
        )
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    path = model_path(args.checkpoint)
    cfg = EnvRealismConfig(rollouts=args.frames // 30, steps=30, split=args.split, seed=args.seed)
    kwargs = env_settings(args.env)
    cfg.region = kwargs.pop("region", "none")
    config = EnvConfig(task="none", region=cfg.region, **kwargs)  # bf16
    venv = LCVGVectorEnv(args.batch_size, path, config=config)
    rng = np.random.default_rng(args.seed)
    real = real_frames(args.data, args.split, args.frames, venv.size, rng)
    starts = real_frames(args.reference, args.split, args.frames, venv.size, rng)
    sets = {"real vs real (the start frames)": starts}
    sets.update(env_sets(venv, starts, args.still_steps, args.seed, args.redraw_only))
    venv.close()
    if not args.redraw_only:
        sets["env-realism's set (30 random steps from the bank)"] = env_frames(str(path), cfg, kwargs)[0]
    features = inception_features(cfg)
    base = (f"{args.data} {args.split}", features(real))
    rows = [compare(name, base, (name, features(frames)), cfg.kid) for name, frames in sets.items()]

    print(
        f"{args.checkpoint} ({path}); every set {args.frames} frames against {args.frames} real ones "
        f"of {base[0]}"
    )
    print("| set | KID (mean ± std) | x real-vs-real | FID |")
    print("|---|---|---|---|")
    floor = rows[0].kid_mean
    for r in rows:
        print(f"| {r.name} | {r.kid_mean:.4f} ± {r.kid_std:.4f} | {r.kid_mean / floor:.1f} | {r.fid:.1f} |")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))


if __name__ == "__main__":
    main()
