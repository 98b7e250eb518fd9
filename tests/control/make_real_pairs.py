"""Write tests/control/data/real_mask_pairs.npz: real mask pairs and their brute-force Eq. 5 optima.

The pairs are consecutive frames of the built-in pusher data (validation split, seed 1000: disjoint
from the test split the benchmarks report on), masked by the bundled model
(:func:`lcvg_env.control.brute.real_mask_pairs`); the optima are
:func:`lcvg_env.control.brute.brute_solve`'s, in the solvers' internal parameters (pixels about the
centroid of m^t). Masks are stored as packed bits. Regenerate with

    python tests/control/make_real_pairs.py /work/data/pusher --split val --pairs 24 --seed 1000

(about a minute on one core; MuJoCo is not needed, the frames are on disk).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from lcvg_env.control.brute import BruteConfig, brute_solve, real_mask_pairs
from lcvg_env.control.fit import internal_loss
from lcvg_env.env.resolve import resolve_checkpoint
from lcvg_env.export.runner import file_digest

FIXTURE = Path(__file__).parent / "data" / "real_mask_pairs.npz"


def pack(masks: np.ndarray) -> np.ndarray:
    """Bool masks (P, H, W) -> packed bits (P, H, ceil(W / 8)) uint8."""
    return np.packbits(masks.astype(bool), axis=-1)


def unpack(bits: np.ndarray, width: int) -> np.ndarray:
    """Inverse of :func:`pack`: float32 masks (P, H, W) in {0, 1}."""
    return np.unpackbits(bits, axis=-1, count=width).astype(np.float32)


def load_fixture(path: Path = FIXTURE) -> dict:
    """The fixture as float masks ``m0``, ``m1`` (P, H, W), its brute-force ``loss`` / ``theta`` per
    mode, and ``meta`` (how it was made)."""
    with np.load(path) as data:
        width = int(data["width"])
        out = {"m0": unpack(data["masks_t"], width), "m1": unpack(data["masks_next"], width)}
        for mode in ("translation", "rotation", "affine"):
            out[f"loss/{mode}"] = data[f"loss/{mode}"]
            out[f"theta/{mode}"] = data[f"theta/{mode}"]
        out["meta"] = json.loads(str(data["meta"]))
        out["episode"], out["t"] = data["episode"], data["t"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="the pusher dataset (lcvg data pusher OUT)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = real_mask_pairs(args.data, args.split, args.pairs, args.seed, checkpoint="pusher_tiny")
    m0, m1 = (torch.from_numpy(pairs[k].astype(np.float32)) for k in ("masks_t", "masks_next"))
    cfg = BruteConfig()
    affine, simpler = brute_solve(m0, m1, "affine", cfg)
    found = {**simpler, "affine": affine}
    meta = {
        "data": str(args.data), "split": args.split, "pairs": args.pairs, "seed": args.seed,
        "checkpoint_sha256": file_digest(resolve_checkpoint("pusher_tiny")), "brute": asdict(cfg),
        "made_by": "python tests/control/make_real_pairs.py DATA --split SPLIT --pairs N --seed S",
    }  # fmt: skip
    arrays = {
        "masks_t": pack(pairs["masks_t"]), "masks_next": pack(pairs["masks_next"]),
        "width": np.array(m0.shape[-1]), "episode": pairs["episode"], "t": pairs["t"],
        "meta": np.array(json.dumps(meta)),
    }  # fmt: skip
    for mode, theta in found.items():
        arrays[f"theta/{mode}"] = theta.numpy()
        arrays[f"loss/{mode}"] = internal_loss(m0, m1, theta, mode).numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {len(m0)} pairs")
    for mode in found:
        print(f"  brute-force {mode}: mean loss {arrays[f'loss/{mode}'].mean():.5f}")


if __name__ == "__main__":
    main()
