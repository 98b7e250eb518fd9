"""Where an env step's time goes: the generations, M's passes and the lag correction's fit of Eq. 5.

The env's step (``LayeredSimulator.step``, the vector env's batch path) is timed from real start frames
(frame 0 of the split's episodes, repeated to fill the batch; loaded again every ``--episode`` steps,
untimed) under seeded random moves (uniform within ``--displacement`` px per axis, as the env scales its
actions), with the lag correction's fits of Eq. 5 (``fit_controls``) timed inside it. The networks are
then timed alone on the batch's frames and masks, as the step runs them (with ``--compile`` compiled, as
``compile=True`` compiles them: ``lcvg_env.env.sim.compiled_networks``), and counted as often as the
model's step calls them: the generation (E, Z and D on both layers) once plus once per correction pass
within the step, M once for the next step's mask plus once per such pass. The rest of the step is the code
around them (warps, composite, rounding, copies).

It then compares, on the (M(x_hat), sent mask) pairs the correction fitted during the run, the fit it uses
(:func:`~lcvg_env.models.generator.lag_fit_config`: shifts within ``LAG_SEARCH_PX`` per 64 px, no
Levenberg-Marquardt polish) with the default fit of Eq. 5 (every shift of the frame, then the polish):
time per batch of ``--envs`` pairs and the difference of the lags (px)::

    python benchmarks/bench_step_parts.py --checkpoint pusher --data data/pusher --compile --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

import lcvg_env.control.fit as fit_module
from lcvg_env.control.fit import FitConfig
from lcvg_env.control.warp import pixels_to_normalized
from lcvg_env.data import open_episodes
from lcvg_env.env.sim import LayeredSimulator, compiled_networks
from lcvg_env.model import open_model, to_unit_range
from lcvg_env.models.generator import lag_fit_config


def start_frames(data: str, split: str, count: int) -> np.ndarray:
    """Frame 0 of the split's episodes, repeated to ``count`` frames (uint8 (count, H, W, 3))."""
    firsts = [np.asarray(ep.frames()[0]) for ep in open_episodes(data, split)]
    return np.stack([firsts[i % len(firsts)] for i in range(count)])


def per_call(fn, args: tuple, calls: int) -> float:
    """Seconds per call of ``fn(*args)`` (after two untimed calls)."""
    for _ in range(2):
        fn(*args)
    start = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="pusher", help="Model name or checkpoint file.")
    parser.add_argument("--data", required=True, help="Dataset root; frame 0 of its episodes are the starts.")
    parser.add_argument("--split", default="test", help="Split of the start frames.")
    parser.add_argument(
        "--envs", type=int, default=64, help="Batch of the simulator (the vector env's size)."
    )
    parser.add_argument("--steps", type=int, default=20, help="Timed steps.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed steps first (they compile).")
    parser.add_argument(
        "--episode", type=int, default=10, help="Steps from the real starts before they are loaded again."
    )
    parser.add_argument("--compile", action="store_true", help="Run the networks compiled (compile=True).")
    parser.add_argument("--threads", type=int, default=2, help="Torch CPU threads.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random actions.")
    parser.add_argument(
        "--displacement", type=float, default=4.0, help="Action range, px per step and axis (the env's 4)."
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = open_model(args.checkpoint)
    cfg = ckpt.generator.cfg
    sim = LayeredSimulator(ckpt, args.envs, ckpt.control_mode, compile=args.compile)
    starts = start_frames(args.data, args.split, args.envs)
    sim.load(np.arange(args.envs), starts)
    if ckpt.control_mode != "translation":
        raise SystemExit(
            f"This benchmark moves translation models; {args.checkpoint} is {ckpt.control_mode}."
        )
    rng, size = np.random.default_rng(args.seed), (cfg.height, cfg.width)

    def actions() -> np.ndarray:
        """Uniform random moves within +- ``--displacement`` px per axis, in the step's normalized units."""
        px = torch.from_numpy(rng.uniform(-1.0, 1.0, (args.envs, 2)) * args.displacement).float()
        return pixels_to_normalized(px, "translation", size).numpy()

    for _ in range(args.warmup):
        sim.step(actions())

    # the whole step, with the lag fits timed and their mask pairs kept
    fit_controls, fit_time, pairs = fit_module.fit_controls, [0.0], []

    def recording_fit(masks_t, masks_next, mode="translation", **kwargs):
        pairs.append((torch.as_tensor(masks_t).clone(), torch.as_tensor(masks_next).clone()))
        start = time.perf_counter()
        out = fit_controls(masks_t, masks_next, mode, **kwargs)
        fit_time[0] += time.perf_counter() - start
        return out

    fit_module.fit_controls = recording_fit  # the generator imports it when it fits
    step = 0.0
    try:
        for i in range(args.steps):
            if i % args.episode == 0:  # a new episode from the real starts (not timed)
                sim.load(np.arange(args.envs), starts)
            action = actions()
            start = time.perf_counter()
            sim.step(action)
            step += (time.perf_counter() - start) / args.steps
    finally:
        fit_module.fit_controls = fit_controls

    # the networks alone, on the batch's frames and masks, as the step runs them
    gen = sim.generator
    frames, masks = to_unit_range(sim.frames), sim.masks  # float32, as the step hands them to the generator
    networks = {name: method for _, name, method in compiled_networks(gen)} if args.compile else {}
    generate, mask = networks.get("generate", gen.generate), networks.get("forward", gen.mask_net.forward)
    freezing = torch._inductor.config.patch(freezing=True) if args.compile else contextlib.nullcontext()
    with torch.inference_mode(), freezing:
        t_generate = per_call(generate, (frames, masks), args.steps)
        # M's network gets the frames in the weights' dtype, as ``gen.mask`` casts them
        t_mask = per_call(mask, (frames.to(gen.quant_conv.weight.dtype),), args.steps)
    corrects = cfg.correction_passes > 0
    within = corrects and cfg.correction_timing == "within"
    generations = 1 + (cfg.correction_passes if within else 0)  # each correction pass renders again
    m_passes = 1 + (cfg.correction_passes if within else 0)  # the next step's mask (and each pass's lag)
    parts = [
        (f"generate (E, Z, D) x {generations}", generations * t_generate),
        (f"M x {m_passes}", m_passes * t_mask),
        ("lag fit (Eq. 5)", fit_time[0] / args.steps),
    ]
    parts.append(("rest", step - sum(t for _, t in parts)))
    timing = cfg.correction_timing if corrects else "off"
    print(
        f"{ckpt.preset or 'model'}: {args.envs} envs, {args.threads} thread(s), "
        f"{'compiled' if args.compile else 'eager'}, lag correction {timing}, "
        f"{args.steps} steps: {step * 1e3:.1f} ms a step, {args.envs / step:.1f} frames/s"
    )
    print(f"{'part':<26} {'ms/step':>8} {'share':>6}")
    for name, seconds in parts:
        print(f"{name:<26} {seconds * 1e3:8.1f} {seconds / step:6.0%}")
    if not pairs:
        print("no lag fits (the model has no lag correction)")
        return
    achieved, sent = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    times, fits = {}, {}
    for name, config in (
        ("every shift + polish", FitConfig()),
        ("lag_fit_config", lag_fit_config(sent.shape[-2:])),
    ):
        start = time.perf_counter()
        fits[name] = fit_controls(achieved, sent, "translation", config=config)
        times[name] = (time.perf_counter() - start) / len(sent) * args.envs
    diff = (fits["lag_fit_config"].params - fits["every shift + polish"].params).abs().amax(dim=1)
    lags = fits["every shift + polish"].params.norm(dim=1)
    print(
        f"the run's {len(sent)} lag fits, ms per {args.envs}: "
        + ", ".join(f"{name} {seconds * 1e3:.1f}" for name, seconds in times.items())
    )
    print(
        f"|lag_fit_config - every shift + polish| (px, larger axis): mean {diff.mean():.3f}, "
        f"p90 {diff.quantile(0.9):.3f}, max {diff.max():.3f}; the lags: median {lags.median():.2f} px, "
        f"max {lags.max():.2f} px"
    )


if __name__ == "__main__":
    main()
