"""Drive the foreground with the arrow keys, in real time (r: reset, q/Esc: quit).

    pip install "lcvg-env[play]"
    python examples/play_keyboard.py --checkpoint runs/pusher/model.safetensors --record session.mp4

The same as ``lcvg play LCVG-Pusher-v0``; written out here as a readable loop: the discrete
wrapper turns a key into no-op/up/down/left/right, the env renders in a pygame window.
"""

from __future__ import annotations

import argparse
import os

import gymnasium

import lcvg_env  # noqa: F401  (registers LCVG-*-v0)
from lcvg_env.env import DiscreteControl, write_video
from lcvg_env.env.render import import_pygame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="LCVG-Pusher-v0")
    parser.add_argument("--checkpoint", help="A .safetensors checkpoint (default: resolved from the id).")
    parser.add_argument("--record", help="Save the session to this mp4 on exit.")
    args = parser.parse_args()

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pygame = import_pygame()
    kwargs = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    env = DiscreteControl(gymnasium.make(args.env, render_mode="human", **kwargs))
    keys = {pygame.K_UP: 1, pygame.K_DOWN: 2, pygame.K_LEFT: 3, pygame.K_RIGHT: 4}
    obs, _ = env.reset(seed=0)  # opens the window (render_mode="human")
    frames, running = [obs], True
    while running:
        action = 0  # no-op unless an arrow is held
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (
                event.type == pygame.KEYDOWN and event.key in (pygame.K_q, pygame.K_ESCAPE)
            ):
                running = False
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_r:
                env.reset()
        pressed = pygame.key.get_pressed()
        action = next((a for key, a in keys.items() if pressed[key]), action)
        obs, _, terminated, truncated, info = env.step(action)  # renders at the env's render_fps
        frames.append(obs)
        if terminated or truncated:
            print(f"episode end: success={info.get('is_success')}")
            env.reset()
    env.close()
    if args.record:
        print(f"saved {write_video(frames, args.record, fps=env.metadata['render_fps'], scale=4)}")


if __name__ == "__main__":
    main()
