"""Eq. 5 solvers: optimality on real mask pairs, speed of ``fast`` vs ``reference``, label accuracy.

First (``--real DATA``), on consecutive-frame mask pairs of a real split (the bundled model's
binarized M, :func:`lcvg_env.control.brute.real_mask_pairs`), per control mode, against the
brute-force optimum (:mod:`lcvg_env.control.brute`):

* the share of pairs where the fast solver's loss is within 1.05x of the brute-force loss, and the
  worst ratio; the same for the reference solver (the paper's Adam recipe);
* the share of pairs where the reference solver is worse than the identity (not moving);
* the mean distance (px) between the centroid displacement of the fast solver's control and of the
  brute-force one (for translation: the shifts themselves), and the brute-force mean for scale;
* speed: pairs per second of CPU time of both solvers and their ratio.

    python benchmarks/bench_fit.py --real /work/data/pusher --split test --pairs 96 --seed 7000 --threads 1

Then, for synthetic masks with known transforms and for consecutive ground-truth arm masks of the
built-in pusher data (``--data``; skipped with ``--real-only``):

* per-pair time of both solvers (wall clock and process CPU time, same process, same threads,
  interleaved), their ratio, and the mean fitting losses (the issue asks: fast >= 50x faster,
  mean loss within 2 % of the reference);
* accuracy of the fitted translation between consecutive frames against the ground truth:
  the displacement of the arm mask's centroid and of the arm tip, as mean absolute error in
  pixels (per axis) and Pearson correlation (x and y pooled); first from ground-truth masks (the
  solver's own error), then, with ``--checkpoint``, from the masks of a trained mask network.

    python benchmarks/bench_fit.py --data /work/data/pusher [--checkpoint run/model.safetensors]

Without ``--data`` a small pusher set is rendered to a temporary folder (needs MuJoCo).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lcvg_env.control import fit_controls
from lcvg_env.control.moments import mask_moments

MODES = ("translation", "rotation", "affine")


def render(size: int, forward: np.ndarray, centre: np.ndarray, ss: int = 4) -> np.ndarray:
    """Anti-aliased mask of a bar with an offset blob, moved by a pixel forward map (2, 3)."""
    g = (np.arange(size * ss) + 0.5) / ss
    gx, gy = np.meshgrid(g, g)
    local = np.stack([gx - forward[0, 2], gy - forward[1, 2]], -1) @ np.linalg.inv(forward[:, :2]).T
    x, y = local[..., 0] - centre[0], local[..., 1] - centre[1]
    k = size / 64
    inside = ((np.abs(x) < 11 * k) & (np.abs(y) < 5 * k)) | (
        ((x - 7 * k) / (5 * k)) ** 2 + ((y + 7 * k) / (6 * k)) ** 2 < 1
    )
    return inside.astype(np.float32).reshape(size, ss, size, ss).mean(axis=(1, 3))


def synthetic_pairs(mode: str, n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n pairs (m0, m1): m1 is m0's shape moved by a random control of ``mode`` about its centroid."""
    rng = np.random.default_rng(seed)
    m0s, m1s = [], []
    for _ in range(n):
        centre = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
        m0 = render(size, np.eye(2, 3), centre)
        c0 = mask_moments(torch.from_numpy(m0)[None])[1][0].double().numpy()
        phi = rng.uniform(-0.25, 0.25) if mode != "translation" else 0.0
        scale = rng.uniform(0.92, 1.08) if mode == "affine" else 1.0
        lin = scale * np.array([[math.cos(phi), math.sin(phi)], [-math.sin(phi), math.cos(phi)]])
        shift = rng.uniform(-4, 4, 2) * size / 64
        m0s.append(m0)
        m1s.append(render(size, np.concatenate([lin, (c0 - lin @ c0 + shift)[:, None]], 1), centre))
    return np.stack(m0s), np.stack(m1s)


def timed(m0: np.ndarray, m1: np.ndarray, mode: str, solver: str) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fit = fit_controls(m0, m1, mode, solver=solver)
    return fit, (time.perf_counter() - wall) / len(m0), (time.process_time() - cpu) / len(m0)


def speed_table(sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    print("\n== Speed and loss: fast vs reference (Adam lr 0.1, 1000 iterations), per pair ==")
    head = ("masks", "mode", "pairs", "ref ms", "fast ms", "ratio", "ref cpu", "fast cpu", "ratio")
    print(*(f"{h:>9s}" for h in head), *(f"{h:>9s}" for h in ("ref loss", "fast loss", "fast/ref")))
    for (name, mode), (m0, m1) in sets.items():
        fit_controls(m0[:2], m1[:2], mode)  # warm-up
        fast, fw, fc = timed(m0, m1, mode, "fast")
        ref, rw, rc = timed(m0, m1, mode, "reference")
        _, fw2, fc2 = timed(m0, m1, mode, "fast")  # again after the reference: interleaved timing
        fw, fc = min(fw, fw2), min(fc, fc2)
        rl, fl = ref.loss.mean().item(), fast.loss.mean().item()
        times = (rw * 1e3, fw * 1e3, rw / fw, rc * 1e3, fc * 1e3, rc / fc)
        print(f"{name[:9]:>9s} {mode[:9]:>9s} {len(m0):9d}", *(f"{v:9.2f}" for v in times), end=" ")
        print(f"{rl:9.5f} {fl:9.5f} {fl / rl:9.3f}")


def pusher_episodes(data: Path | None) -> list:
    from lcvg_env.data import open_episodes

    if data is None:
        from lcvg_env.data.pusher import generate_pusher

        data = Path(tempfile.mkdtemp(prefix="bench_fit_")) / "pusher"
        generate_pusher(data, episodes=10, frames=30, size=64, seed=0)
    return [e for e in open_episodes(data) if e.annotations() is not None and "arm_mask" in e.annotations()]


def accuracy(fitted: np.ndarray, truth: np.ndarray) -> str:
    ok = np.isfinite(truth).all(axis=1) & np.isfinite(fitted).all(axis=1)
    err = np.abs(fitted[ok] - truth[ok]).mean(axis=0)
    corr = np.corrcoef(fitted[ok].ravel(), truth[ok].ravel())[0, 1]
    return (
        f"MAE x {err[0]:.3f} px, y {err[1]:.3f} px, mean {err.mean():.3f} px; r = {corr:.3f} (n = {ok.sum()})"
    )


def accuracy_report(episodes: list, masks_of, title: str) -> None:
    """Fitted translation between consecutive masks vs the GT arm centroid and tip displacements."""
    fits, centroid_moves, tip_moves = [], [], []
    for ep in episodes:
        ann = ep.annotations()
        gt = torch.from_numpy(ann["arm_mask"].astype(np.float32))
        masks = masks_of(ep)
        fits.append(fit_controls(masks[:-1], masks[1:], "translation").params.numpy())
        centroid_moves.append(np.diff(mask_moments(gt)[1].numpy(), axis=0))
        tip_moves.append(np.diff(ann["tip_px"], axis=0))
    fitted, centroid, tip = (np.concatenate(a) for a in (fits, centroid_moves, tip_moves))
    print(f"\n== Accuracy of fitted translations, {title} ==")
    print(f"vs GT arm-mask centroid displacement: {accuracy(fitted, centroid)}")
    print(f"vs GT arm-tip displacement:           {accuracy(fitted, tip)}")
    print(f"(GT centroid vs GT tip, for scale:    {accuracy(centroid, tip)})")
    print(f"mean |GT centroid displacement| = {np.abs(centroid).mean():.3f} px")


def centroid_moves(fit_or_theta, masks_t: torch.Tensor, mode: str, internal: bool = False) -> np.ndarray:
    """Where each control moves the centroid c0 of m^t, minus c0: (N, 2) pixels."""
    from lcvg_env.control import fast_fit
    from lcvg_env.control.units import affine_normalized_to_pixels

    c0 = mask_moments(masks_t)[1]
    if internal:
        forward = fast_fit.forward_pixels(fit_or_theta, mode, c0)
    else:
        forward = fit_or_theta.params_px if mode != "affine" else None
        if mode == "affine":
            forward = affine_normalized_to_pixels(
                fit_or_theta.params_norm.reshape(-1, 2, 3), fit_or_theta.size
            )
    if mode != "affine":
        return forward[:, :2].numpy()  # translation: the shift; rotation: about c0, so the shift too
    moved = (forward[:, :, :2] @ c0[:, :, None])[:, :, 0] + forward[:, :, 2]
    return (moved - c0).numpy()


def real_pairs_report(args: argparse.Namespace) -> None:
    """Fast and reference solvers against the brute-force optimum on real mask pairs (see the docstring)."""
    from lcvg_env.control.brute import BruteConfig, brute_solve, real_mask_pairs
    from lcvg_env.control.fit import internal_loss

    pairs = real_mask_pairs(args.real, args.split, args.pairs, args.seed)
    m0, m1 = (torch.from_numpy(pairs[k].astype(np.float32)) for k in ("masks_t", "masks_next"))
    keep = (m0.sum(dim=(1, 2)) > 0) & (m1.sum(dim=(1, 2)) > 0)
    m0, m1 = m0[keep], m1[keep]
    n = len(m0)
    print(f"\n== Real mask pairs: {args.real} split {args.split!r} (seed {args.seed}), bundled model's M ==")
    episodes, empty = len(set(pairs["episode"])), int((~keep).sum())
    print(f"{n} consecutive-frame pairs from {episodes} episodes ({empty} with an empty mask left out);")
    print("brute force: exhaustive grids of shifts (x angles), affine: restarts of a local solver")
    start = time.process_time()
    affine, simpler = brute_solve(m0, m1, "affine", BruteConfig())
    brute = {**simpler, "affine": affine}
    print(f"(brute force: {(time.process_time() - start) / n:.2f} s of CPU per pair, all three modes)")
    identity = ((m0 - m1) ** 2).mean(dim=(1, 2)).numpy()
    head = ("mode", "fast<=1.05", "fast worst", "ref<=1.05", "ref worst", "ref>ident", "dist px", "opt px")
    print(
        f"{head[0]:>11s}",
        *(f"{h:>10s}" for h in head[1:]),
        *(f"{h:>10s}" for h in ("fast pr/s", "ref pr/s", "ratio")),
    )
    for mode in MODES:
        best = internal_loss(m0, m1, brute[mode], mode).numpy()
        fit_controls(m0[:2], m1[:2], mode)  # warm-up
        fast, fast_cpu = timed_cpu(m0, m1, mode, "fast")
        ref, ref_cpu = timed_cpu(m0, m1, mode, "reference")
        fast_cpu = min(fast_cpu, timed_cpu(m0, m1, mode, "fast")[1])  # again after the reference
        fast_ratio, ref_ratio = fast.loss.numpy() / best, ref.loss.numpy() / best
        optimum = centroid_moves(brute[mode], m0, mode, internal=True)
        dist = np.linalg.norm(centroid_moves(fast, m0, mode) - optimum, axis=1).mean()
        worse = float((ref.loss.numpy() > identity).mean())
        row = (
            np.mean(fast_ratio <= 1.05),
            fast_ratio.max(),
            np.mean(ref_ratio <= 1.05),
            ref_ratio.max(),
            worse,
        )
        print(f"{mode:>11s}", *(f"{v:10.3f}" for v in row), end=" ")
        print(f"{dist:10.3f} {np.linalg.norm(optimum, axis=1).mean():10.3f}", end=" ")
        print(f"{n / fast_cpu:10.1f} {n / ref_cpu:10.2f} {ref_cpu / fast_cpu:9.1f}x")
    print(
        "(ratios: solver loss / brute-force loss; dist: |centroid move of the fast control - brute force's|;"
    )
    print(" opt: mean |centroid move| of the brute-force optimum; speed: pairs per CPU second, one batch)")


def timed_cpu(m0, m1, mode: str, solver: str) -> tuple[object, float]:
    cpu = time.process_time()
    fit = fit_controls(m0, m1, mode, solver=solver)
    return fit, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", type=Path, default=None, help="dataset whose real mask pairs to test on")
    parser.add_argument("--split", default="test", help="--real: the split (pusher test: seed 7000)")
    parser.add_argument("--pairs", type=int, default=96, help="--real: consecutive-frame pairs")
    parser.add_argument("--seed", type=int, default=7000, help="--real: seed of the frames drawn")
    parser.add_argument("--real-only", action="store_true", help="only the real-pairs report")
    parser.add_argument("--data", type=Path, default=None, help="pusher dataset (lcvg data pusher OUT)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="trained checkpoint for mask accuracy")
    parser.add_argument("--speed-pairs", type=int, default=48, help="pairs per speed set")
    parser.add_argument("--size", type=int, default=64, help="frame size of the synthetic sets")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both solvers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s) for both solvers")
    if args.real is not None:
        real_pairs_report(args)
    if args.real_only:
        return
    episodes = pusher_episodes(args.data)
    arm = np.concatenate([e.annotations()["arm_mask"].astype(np.float32) for e in episodes])
    per_ep = len(episodes[0].annotations()["arm_mask"])
    first = np.concatenate([np.arange(i * per_ep, (i + 1) * per_ep - 1) for i in range(len(episodes))])
    first = first[: args.speed_pairs]
    sets = {(f"synth{args.size}", m): synthetic_pairs(m, args.speed_pairs, args.size) for m in MODES}
    for mode in MODES:
        sets[("pusher-GT", mode)] = (arm[first], arm[first + 1])
    speed_table(sets)
    accuracy_report(
        episodes, lambda ep: ep.annotations()["arm_mask"].astype(np.float32), "ground-truth masks"
    )
    if args.checkpoint is None:
        print("\n(mask-network accuracy: pass --checkpoint with a trained model)")
        return
    from lcvg_env.model import open_model

    ckpt = open_model(args.checkpoint)
    size = (ckpt.config.height, ckpt.config.width)

    def network_masks(ep) -> np.ndarray:
        masks = ckpt.binary_masks(ep.frames(size=size)).numpy().astype(np.float32)
        if size != ep.stored_size():  # back to the annotation's pixels: nearest-neighbour resize
            from lcvg_env.data.transforms import resize_frames

            up = resize_frames((masks[..., None].repeat(3, -1) * 255).astype(np.uint8), ep.stored_size())
            masks = (up[..., 0] > 127).astype(np.float32)
        return masks

    accuracy_report(episodes, network_masks, f"masks of {args.checkpoint.name} (step {ckpt.step})")


if __name__ == "__main__":
    main()
