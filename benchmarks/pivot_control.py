"""Pivot controls against translation controls, judged by the true tip (docs/fidelity.md, "Pivot controls").

For one model: where its masks turn about (the pivot, estimated from M's masks of the training split alone,
:func:`lcvg_env.control.pivot.estimate_pivot`), then for each control family (a translation of the mask, a
turn-and-stretch about the pivot, and a *cantilever*: the mask bent about the pivot, each point p moved by
w(p) D with w = min(|p - pivot| / R, 1), R the far end's distance from the pivot, so that the far end moves
by the two numbers D and the pivot stays; ``--families`` picks them):

* labels: the control fitted between M's masks of consecutive real frames (Eq. 5), expressed as the motion of
  the mask's far end (translation: the shift itself), against the true tip's step: its share along the tip's
  step (median) and its distance from it;
* ``--rollout``: 16-step rollouts from each episode's first frame driven by those labels (the evaluation
  protocol), the independent tip detector's distance from the true tip;
* ``--gain``: constant commands in 8 directions for 5 steps from real start frames (the translation moves the
  mask by the command, the pivot control moves its far end by it): the tip's motion along the command over
  the command, and across it.

Both families are rendered the same way: one generation per step, no lag correction, no composite.

    python benchmarks/pivot_control.py --checkpoint runs/mh0-tiny/model.safetensors --data data/pusher \\
        --rollout --gain
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lcvg_env.control.fit import fit_controls
from lcvg_env.control.pivot import (
    PivotConfig,
    bend_masks,
    bend_reach,
    estimate_pivot,
    far_end,
    fit_similarity,
    similarity_params,
    steer,
)
from lcvg_env.control.warp import pixels_to_normalized
from lcvg_env.data import open_episodes
from lcvg_env.evaluation.video import ground_truth
from lcvg_env.metrics.detector import load_detector
from lcvg_env.model import binary_masks, open_model, to_frames, to_model_range

FAMILIES = ("translation", "pivot", "cantilever")
CANTILEVER_GRIDS = ((10.0, 1.0), (1.0, 0.25), (0.25, 0.0625))
"""The cantilever fit's search for D: (half-span, spacing) px, each level centred on the last one's best."""
DIRECTIONS = {"E": (1, 0), "NE": (1, -1), "N": (0, -1), "NW": (-1, -1), "W": (-1, 0), "SW": (-1, 1)}
DIRECTIONS |= {"S": (0, 1), "SE": (1, 1)}


class Mover:
    """Moves binarized masks (1, 1, H, W) by a fitted label or by a command, in one family."""

    def __init__(self, generator, family: str, pivot: torch.Tensor, cfg: PivotConfig) -> None:
        self.g, self.family, self.pivot, self.cfg = generator, family, pivot, cfg
        self.size = (generator.cfg.height, generator.cfg.width)
        self._seen: dict[int, tuple[np.ndarray, torch.Tensor, list]] = {}

    def episode(self, ep) -> tuple[np.ndarray, torch.Tensor, list]:
        """An episode's frames (T, H, W, 3) uint8, M's binarized masks (T, H, W) and labels (T - 1), computed
        once and shared by every table (each pair's fit depends on its own two masks only)."""
        if id(ep) not in self._seen:
            frames = ep.frames(size=self.size)
            masks = binary_masks(self.g, frames)
            self._seen[id(ep)] = (frames, masks, self.labels(masks))
        return self._seen[id(ep)]

    def labels(self, masks: torch.Tensor) -> list:
        """Per-pair labels of masks (T, H, W): shifts (dx, dy) px, turns k (complex) or far-end moves D px."""
        if self.family == "pivot":
            return [complex(k) for k in fit_similarity(masks[:-1], masks[1:], self.pivot, self.cfg)]
        if self.family == "cantilever":
            return [self._fit_bend(masks[t].float(), masks[t + 1].float()) for t in range(len(masks) - 1)]
        fit = fit_controls(masks[:-1].float(), masks[1:].float(), "translation")
        return [tuple(p) for p in fit.params.tolist()]

    def by_label(self, mask: torch.Tensor, label) -> torch.Tensor:
        if self.family == "pivot":
            return self._turn(mask, label)
        if self.family == "cantilever":
            return self._bend_mask(mask, label)
        return self._shift(mask, label)

    def by_command(self, mask: torch.Tensor, move_px: tuple[float, float]) -> torch.Tensor:
        if self.family == "cantilever":
            return self._bend_mask(mask, move_px)
        if self.family == "pivot":
            k = steer(mask[0, 0], move_px, self.pivot, self.cfg)
            if k is not None:
                return self._turn(mask, k)
        return self._shift(mask, move_px)

    def _shift(self, mask, move_px):
        control = pixels_to_normalized(torch.tensor([move_px], dtype=torch.float32), "translation", self.size)
        return self.g.warp_mask(mask, control, "translation")

    def _turn(self, mask, k):
        params = similarity_params(torch.tensor([k], dtype=torch.complex64), self.pivot, self.size)
        return self.g.warp_mask(mask, params, "affine")

    def _reach(self, mask: torch.Tensor) -> float | None:
        return bend_reach(mask, self.pivot, self.cfg)

    def _bend(self, mask: torch.Tensor, moves: torch.Tensor, reach: float) -> torch.Tensor:
        """``mask`` (H, W) bent by far-end moves (K, 2) px: (K, H, W) (:func:`bend_masks`)."""
        k = len(moves)
        return bend_masks(mask[None].expand(k, -1, -1), moves, self.pivot, torch.full((k,), reach))

    def _fit_bend(self, m0: torch.Tensor, m1: torch.Tensor) -> tuple[float, float]:
        """The far-end move D that minimizes Eq. 5's squared error between bent m0 and m1 (coarse to fine)."""
        reach = self._reach(m0)
        best = torch.zeros(2)
        if reach is None:
            return (0.0, 0.0)
        for span, spacing in CANTILEVER_GRIDS:
            u = torch.arange(-span, span + 1e-6, spacing)
            moves = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2) + best  # (K, 2)
            loss = (self._bend(m0, moves, reach) - m1[None]).pow(2).mean(dim=(1, 2))
            best = moves[loss.argmin()]
        return (float(best[0]), float(best[1]))

    def _bend_mask(self, mask: torch.Tensor, move_px) -> torch.Tensor:
        reach = self._reach(mask[0, 0])
        if reach is None:
            return mask
        bent = self._bend(mask[0, 0], torch.tensor([move_px], dtype=torch.float32), reach)  # (1, H, W)
        return (bent > 0.5).float()[None]


def step(generator, frame: torch.Tensor, moved_from) -> torch.Tensor:
    current = generator.binary_mask(frame)
    return generator.render(frame, current, moved_from(current)).frame.clamp(-1.0, 1.0)


def label_table(mover: Mover, episodes, size) -> str:
    """Labels' motion of the far end vs the true tip's step (pairs whose tip moves at least 1 px)."""
    share, miss = [], []
    for ep in episodes:
        frames, masks, labels = mover.episode(ep)
        tips = ground_truth(ep, size, len(frames), "tip_px").numpy()
        for t, label in enumerate(labels):
            tip_step = tips[t + 1] - tips[t]
            end = far_end(masks[t].float(), mover.pivot, mover.cfg.far_quantile)
            if np.linalg.norm(tip_step) < 1.0 or end is None:
                continue
            if mover.family == "pivot":
                z = (label - 1) * complex(*(end - mover.pivot).tolist())
                motion = np.array([z.real, z.imag])
            else:
                motion = np.array(label)
            unit = tip_step / np.linalg.norm(tip_step)
            share.append(motion @ unit / np.linalg.norm(tip_step))
            miss.append(np.linalg.norm(motion - tip_step))
    return f"{len(share):6d}  {np.median(share):18.2f}  {np.median(miss):16.2f}"


def far_end_row(mover: Mover, episodes, size) -> str:
    """Where the cantilever's far end lies against the true tip, over every frame with one: the tip's distance
    from the pivot over the far end's, R (a bend of D moves a point at that share of R by about that share
    of D), median / p10 / p90, and the median distance from the far end to the tip (px)."""
    ratio, dist = [], []
    for ep in episodes:
        real, masks, _ = mover.episode(ep)
        tips = ground_truth(ep, size, len(real), "tip_px")
        if tips is None:
            continue
        for t in range(len(real)):
            end = far_end(masks[t].float(), mover.pivot, mover.cfg.far_quantile)
            if end is None:
                continue
            ratio.append(
                float(torch.linalg.norm(tips[t] - mover.pivot) / torch.linalg.norm(end - mover.pivot))
            )
            dist.append(float(torch.linalg.norm(tips[t] - end)))
    if not ratio:
        return "     0                 n/a"
    q = np.percentile(ratio, [50, 10, 90])
    return f"{len(ratio):6d}  {q[0]:6.2f} {q[1]:6.2f} {q[2]:6.2f}  {np.median(dist):14.2f}"


def one_step_row(mover: Mover, detector, episodes, size) -> str:
    """One step from each real frame, the mask moved by the label fitted to the real next mask: the generated
    tip's motion along the true tip's step over that step (pairs whose tip moves >= 1 px), and its miss."""
    share, miss = [], []
    for ep in episodes:
        real, masks, labels = mover.episode(ep)
        tips = ground_truth(ep, size, len(real), "tip_px").numpy()
        current = masks[:-1, None].float()  # (T-1, 1, H, W): M(x^t) binarized
        moved = torch.cat([mover.by_label(current[t : t + 1], lab) for t, lab in enumerate(labels)])
        out = mover.g.render(to_model_range(real[:-1]), current, moved).frame.clamp(-1.0, 1.0)
        found = detector.detect(to_frames(out)).xy.numpy()  # (T-1, 2) tips of the generated next frames
        for t in range(len(labels)):
            tip_step = tips[t + 1] - tips[t]
            if np.linalg.norm(tip_step) >= 1.0 and np.isfinite(found[t]).all():
                share.append((found[t] - tips[t]) @ tip_step / np.linalg.norm(tip_step) ** 2)
                miss.append(np.linalg.norm(found[t] - tips[t + 1]))
    return f"{len(share):6d}  {np.median(share):18.2f}  {np.median(miss):16.2f}"


def rollout_row(mover: Mover, detector, episodes, size, frames: int) -> str:
    dist = []
    for ep in episodes:
        real, _, labels = mover.episode(ep)
        real = real[:frames]
        tips = ground_truth(ep, size, len(real), "tip_px").numpy()
        generated = [to_model_range(real[:1])]
        for label in labels[: frames - 1]:
            generated.append(step(mover.g, generated[-1], lambda m, lab=label: mover.by_label(m, lab)))
        found = detector.detect(to_frames(torch.cat(generated))).xy.numpy()
        dist.append(np.linalg.norm(found - tips, axis=1)[1:])
    d = np.stack(dist)  # (E, frames - 1)
    at = [np.nanmedian(d[:, s - 1]) for s in (1, 4, 8, frames - 1)]
    return f"{np.nanmean(d):7.2f}  " + "  ".join(f"{v:6.2f}" for v in at) + f"  {np.isnan(d).mean():6.3f}"


def gain_row(mover: Mover, detector, starts, size, move: float) -> str:
    gains, cross = {}, {}
    for name, (ux, uy) in DIRECTIONS.items():
        unit = np.array([ux, uy], float) / np.hypot(ux, uy)
        command = tuple((unit * move).tolist())
        along, side = [], []
        for ep in starts:
            x = to_model_range(ep.frames(size=size)[:1])
            x0 = x
            for _ in range(5):
                x = step(mover.g, x, lambda m, c=command: mover.by_command(m, c))
            tip0, tip5 = detector.detect(to_frames(torch.cat([x0, x]))).xy.numpy()
            along.append((tip5 - tip0) @ unit / (5 * move))
            side.append(abs((tip5 - tip0) @ np.array([-unit[1], unit[0]])) / (5 * move))
        gains[name], cross[name] = np.nanmedian(along), np.nanmedian(side)
    per = " ".join(f"{k} {v:.2f}" for k, v in gains.items())
    return f"{move:4.1f} px: {per} | median {np.median(list(gains.values())):.2f} worst " + (
        f"{min(gains.values()):.2f} | max cross {max(cross.values()):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="pusher", help="model name or checkpoint file")
    parser.add_argument("--data", default="data/pusher", help="pusher dataset (with tip_px)")
    parser.add_argument("--split", default="test", help="split of the labels, rollouts and starts")
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--pivot-episodes", type=int, default=60, help="train episodes for the pivot")
    parser.add_argument("--pivot", default=None, help="x,y px instead of the estimate")
    parser.add_argument("--one-step", action="store_true", help="one step from real frames, by the labels")
    parser.add_argument("--rollout", action="store_true", help="16-step rollouts driven by the labels")
    parser.add_argument("--gain", action="store_true", help="5-step constant commands from real starts")
    parser.add_argument("--starts", type=int, default=24, help="start frames of the gain")
    parser.add_argument("--moves", type=float, nargs="+", default=[2.0, 4.0], help="px per step")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = open_model(args.checkpoint)
    generator = ckpt.generator.eval()
    generator.cfg.correction_passes, generator.cfg.composite_margin = 0, None
    size = (ckpt.config.height, ckpt.config.width)
    if args.pivot:
        pivot = torch.tensor([float(v) for v in args.pivot.split(",")])
        print(f"pivot {pivot.tolist()} px (given)")
    else:
        train = list(open_episodes(args.data, split="train"))[: args.pivot_episodes]
        masks = [binary_masks(generator, ep.frames(size=size)) for ep in train]
        est = estimate_pivot(torch.cat([m[:-1] for m in masks]), torch.cat([m[1:] for m in masks]))
        pivot = torch.tensor(est.point_px, dtype=torch.float32)
        print(
            f"pivot ({est.point_px[0]:.1f}, {est.point_px[1]:.1f}) px from {est.pairs} mask pairs of "
            f"{len(train)} train episodes (median miss {est.median_miss_px:.2f} px)"
        )
    episodes = [ep for ep in open_episodes(args.data, split=args.split) if ep.num_frames >= 17]
    episodes = episodes[: args.episodes]
    movers = {family: Mover(generator, family, pivot, PivotConfig()) for family in args.families}
    print(f"\nlabels on {len(episodes)} {args.split} episodes (pairs whose true tip moves >= 1 px)")
    print("family         pairs  share of tip step  median miss (px)")
    for family, mover in movers.items():
        print(f"{family:<12s} {label_table(mover, episodes, size)}")
    if "cantilever" in movers:
        print(
            "\ncantilever far end against the true tip: |tip - pivot| / R (median, p10, p90), far end to tip"
        )
        print("frames  median    p10    p90  far end-tip (px)")
        print(far_end_row(movers["cantilever"], episodes, size))
    detector = load_detector("pusher") if args.one_step or args.rollout or args.gain else None
    with torch.no_grad():
        if args.one_step:
            print(
                "\none step from real frames by the labels: the generated tip's share of the true step, miss"
            )
            print("family         pairs  share of tip step  median miss (px)")
            for family, mover in movers.items():
                print(f"{family:<12s} {one_step_row(mover, detector, episodes, size)}")
        if args.rollout:
            print("\nrollouts driven by the labels: distance detected vs true tip (px; mean, then medians)")
            print("family          mean    DD@1    DD@4    DD@8   DD@16  no tip  seconds")
            for family, mover in movers.items():
                start = time.perf_counter()
                row = rollout_row(mover, detector, episodes, size, 17)
                print(f"{family:<12s} {row}  {time.perf_counter() - start:7.0f}")
        if args.gain:
            print(f"\ngain over 5 steps from {args.starts} start frames (median per direction)")
            for family, mover in movers.items():
                for move in args.moves:
                    print(f"{family:<12s} {gain_row(mover, detector, episodes[: args.starts], size, move)}")


if __name__ == "__main__":
    main()
