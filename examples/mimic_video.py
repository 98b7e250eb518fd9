"""Action mimicking (LCVG supplementary, section B): replay the motion of one video from another frame.

The checkpoint's mask network finds the foreground of every driving frame, Eq. 5 fits the control
between consecutive masks, and the generator replays those controls from a different start frame.

    python examples/mimic_video.py MODEL DRIVING_VIDEO [START_FRAME.png] [--out mimic.mp4]

DRIVING_VIDEO is anything ``lcvg data info`` reads (a video file, a folder of frames, a dataset);
MODEL is a model name (``pusher``) or a checkpoint file; without START_FRAME the checkpoint's last
start frame is used (the first is often the driving video's own). Given START_FRAME, the same as
``lcvg mimic MODEL DRIVING_VIDEO --start-frame START_FRAME.png --out mimic.mp4``; without it ``lcvg mimic``
starts from the checkpoint's first start frame instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lcvg_env.env.render import auto_scale, write_video
from lcvg_env.export.mimic import load_image, mimic
from lcvg_env.model import open_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="model name (e.g. pusher) or checkpoint file")
    parser.add_argument("driving", type=Path)
    parser.add_argument("start_frame", type=Path, nargs="?")
    parser.add_argument("--out", type=Path, default=Path("mimic.mp4"))
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args()

    ckpt = open_model(args.model)
    start = load_image(args.start_frame, ckpt.size) if args.start_frame else ckpt.start_frames[-1]
    result = mimic(ckpt, args.driving, start, max_frames=args.max_frames)

    print(f"{len(result.controls_px)} controls ({ckpt.control_mode}) fitted between the driving masks:")
    for t, (control, loss) in enumerate(zip(result.controls_px, result.fit_loss, strict=True)):
        values = ", ".join(f"{v:+.2f}" for v in control)
        print(f"  t={t:3d}  control_px=({values})  Eq.5 loss={loss:.4f}")
    panels = result.side_by_side()  # driving | generated
    write_video(list(panels), args.out, fps=8, scale=auto_scale(panels.shape[1:3], 512))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
