"""Exported action labels against the true motion: MAE (px) and Pearson r per axis.

Scores a finished ``lcvg export labels`` folder (translation or rotation labels, any format)
against the annotated tip displacement tip_px[t+1] - tip_px[t] of the episodes it labelled, and
prints the labels' mean Eq. 5 loss.
``lcvg export labels`` prints the same line itself whenever the data has ``tip_px``; this script
scores an export made by any version of the code (e.g. before a solver change), with the same
function (:func:`lcvg_env.export.labels.label_accuracy`):

    lcvg export labels pusher /work/data/pusher OUT --split test --format npz --control translation
    python benchmarks/bench_labels.py OUT /work/data/pusher --split test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lcvg_env.export.labels import accuracy_line, label_accuracy
from lcvg_env.export.store import MANIFEST, load_episode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="a finished `lcvg export labels` folder")
    parser.add_argument("data", type=Path, help="the dataset it labelled (with tip_px annotations)")
    parser.add_argument("--split", default="train", help="the split it labelled")
    args = parser.parse_args()
    manifest = json.loads((args.out / MANIFEST).read_text())
    print(f"{args.out}: {manifest['fingerprint']}")
    accuracy = label_accuracy(args.out, args.data, args.split)
    if accuracy is None:
        raise SystemExit("No tip_px annotations in the data, or affine labels: nothing to compare.")
    print(accuracy_line(accuracy))
    losses = [
        load_episode(args.out / e["file"])["infos"]["fit_loss"][1:] for e in manifest["episodes"].values()
    ]
    print(f"mean Eq. 5 loss of the labels (fit_loss): {np.concatenate(losses).mean():.5f}")


if __name__ == "__main__":
    main()
