"""Does compositing reduce rollout drift? A generation-time experiment, no training.

Issue 16's error budget (docs/fidelity.md) finds that drift adds most of the rollout error. Stage 1's
L_bg asks the scene outside the foreground mask not to change, so one candidate keeps x^t's own pixels
outside the union of the current and the warped binarized masks (dilated by ``margin`` pixels) and the
decoder's pixels inside:

    x_hat^{t+1} = u * D(q(E(fg)) + q(E(bg))) + (1 - u) * x_hat^t,   u = dilate(m^t | T(theta)(m^t))

This runs the evaluation protocol's 16-step rollouts (controls fitted between consecutive real masks)
on a test split with and without the composite and prints LPIPS (AlexNet) and the detection distance
of the independent tip detector (docs/detector.md). Usage::

    python benchmarks/fidelity_composite.py --checkpoint pusher --data data/pusher --episodes 24
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from lcvg_env.control.fit import fit_controls
from lcvg_env.data import open_episodes
from lcvg_env.metrics.detector import load_detector
from lcvg_env.metrics.lpips import LPIPS
from lcvg_env.model import open_model, to_model_range


@torch.no_grad()
def rollout(generator, real: torch.Tensor, controls: torch.Tensor, mode: str, margin: int | None):
    """16-step rollout from real[0]; ``margin`` None: the model as it is, else the composite."""
    x, out = real[:1], []
    for t in range(len(controls)):
        current = generator.binary_mask(x)  # (1, 1, H, W)
        warped = generator.warp_mask(current, controls[t : t + 1], mode)
        frame = generator.generate(x, warped).frame.clamp(-1, 1)
        if margin is not None:
            union = ((current + warped) > 0.5).float()
            if margin > 0:
                union = F.max_pool2d(union, 2 * margin + 1, 1, margin)
            frame = union * frame + (1 - union) * x
        out.append(frame)
        x = frame
    return torch.cat(out)  # (T, 3, H, W)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="pusher")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--margins", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = open_model(args.checkpoint)
    generator, mode = ckpt.generator, ckpt.control_mode
    size = (ckpt.config.height, ckpt.config.width)
    detector, lpips = load_detector("pusher"), LPIPS.from_pretrained("alex")
    variants: list[int | str | None] = ["copy", None, *args.margins]  # "copy": copy the first frame
    scores: dict[int | str | None, dict[str, list[float]]] = {
        v: {"lpips": [], "dd": [], "last": []} for v in variants
    }
    episodes = open_episodes(args.data, split=args.split)[: args.episodes]
    for ep in episodes:
        real = to_model_range(ep.frames(size=size)[: args.frames])  # (T, 3, H, W)
        masks = ckpt.binary_masks(real)  # (T, H, W) bool
        controls = fit_controls(masks[:-1].float(), masks[1:].float(), mode).params_norm
        tips = detector.detect(real[1:]).xy
        for v in variants:
            gen = real[:1].expand_as(real[1:]) if v == "copy" else rollout(generator, real, controls, mode, v)
            scores[v]["lpips"].append(lpips(gen, real[1:]).mean().item())
            dist = (detector.detect(gen).xy - tips).norm(dim=1).numpy()
            scores[v]["dd"].append(float(np.nanmean(dist)))
            scores[v]["last"].append(float(dist[-1]))
    print(
        f"{args.checkpoint} on {args.data} ({args.split}), {len(episodes)} episodes x {args.frames - 1} steps"
    )
    for v, s in scores.items():
        name = {"copy": "copy first frame", None: "model as it is"}.get(v, f"composite, margin {v} px")
        print(
            f"  {name:<24} LPIPS {np.mean(s['lpips']):.4f}   detection distance mean "
            f"{np.nanmean(s['dd']):.2f} px, last step {np.nanmean(s['last']):.2f} px"
        )


if __name__ == "__main__":
    main()
