"""Rendering (rgb_array, human via pygame's dummy driver), RecordVideo, and the play/rollout commands."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.env import LCVGEnv
from lcvg_env.env import cli as env_cli
from lcvg_env.env.cli import PLAY_KEYS, keys_to_action, parse_policy
from lcvg_env.env.render import HumanWindow, NoDisplayError


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


def _frames(path: Path) -> int:
    """Frames in an mp4, counted by ffmpeg, after checking that moviepy decodes it."""
    import imageio_ffmpeg
    from moviepy import VideoFileClip

    with VideoFileClip(str(path)) as clip:
        first = clip.get_frame(0)
        assert first.ndim == 3 and first.shape[2] == 3 and first.std() > 0
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def test_rgb_array_render_is_the_observation(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert np.array_equal(env.render(), obs)
    assert env.metadata["render_fps"] > 0


def test_human_render_opens_a_scaled_window(tiny_ckpt: Path, headless: None) -> None:
    env = LCVGEnv(tiny_ckpt, render_mode="human", render_scale=3)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    assert env._window.screen.get_size() == (96, 96)
    env.close()
    assert env._window is None


def test_missing_pygame_says_how_to_install(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pygame", None)
    env = LCVGEnv(tiny_ckpt, render_mode="human")
    with pytest.raises(ImportError, match=r'pip install "lcvg-env\[play\]"'):
        env.reset(seed=0)


def test_record_video_wrapper(tiny_ckpt: Path, tmp_path: Path) -> None:
    env = gymnasium.make(
        "LCVG-Pusher-v0", checkpoint=str(tiny_ckpt), render_mode="rgb_array", max_episode_steps=5
    )
    env = gymnasium.wrappers.RecordVideo(
        env, str(tmp_path / "videos"), episode_trigger=lambda e: True, disable_logger=True
    )
    env.reset(seed=0)
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        done = term or trunc
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and _frames(videos[0]) >= 2


def test_rollout_command_writes_a_playable_mp4(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "video.mp4"
    args = ["rollout", "LCVG-Pusher-v0", "-c", str(tiny_ckpt), "--policy", "constant:1,0", "--steps", "6"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--scale", "2"])
    assert result.exit_code == 0, result.output
    assert "7 frames" in result.output and _frames(out) == 7
    bad = CliRunner().invoke(app, ["rollout", "LCVG-Pusher-v0", "-c", str(tiny_ckpt), "--policy", "zigzag"])
    assert bad.exit_code != 0 and "constant:DX,DY" in bad.output


def test_play_command_runs_headless_and_records(tiny_ckpt: Path, tmp_path: Path, headless: None) -> None:
    out = tmp_path / "play.mp4"
    args = ["play", "LCVG-Pusher-v0", "-c", str(tiny_ckpt), "--max-steps", "3", "--fps", "200"]
    result = CliRunner().invoke(app, [*args, "--record", str(out)])
    assert result.exit_code == 0, result.output
    assert PLAY_KEYS in result.output  # the keys are printed at start
    assert out.is_file() and _frames(out) == 4


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Linux session without X11 or Wayland, and no SDL driver asked for."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")


def test_play_without_display_fails_at_once_and_says_to_use_rollout(
    tiny_ckpt: Path, no_display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(env_cli, "make_env", lambda *a, **k: pytest.fail("loaded the model first"))
    result = CliRunner().invoke(app, ["play", "LCVG-Pusher-v0", "-c", str(tiny_ckpt)])
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and message.startswith("Error: No display")
    assert "DISPLAY" in message and "lcvg rollout" in message


def test_window_refuses_sdl_invisible_fallback(no_display: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # DISPLAY names no X server: SDL cannot connect and would fall back to its invisible offscreen driver
    monkeypatch.setenv("DISPLAY", ":4093")
    with pytest.raises(NoDisplayError, match="lcvg rollout"):
        HumanWindow((8, 8), 1, "test", 100.0)


def test_window_reports_a_failing_display_as_no_display(
    headless: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pygame

    def refuse(*args: object, **kwargs: object) -> None:
        raise pygame.error("No available video device")

    monkeypatch.setattr(pygame.display, "set_mode", refuse)
    with pytest.raises(NoDisplayError, match="No available video device"):
        HumanWindow((8, 8), 1, "test", 100.0)


def test_window_draws_the_keys_under_the_frame_without_audio(headless: None) -> None:
    import pygame

    window = HumanWindow((16, 16), 4, "test", 1000.0, PLAY_KEYS)
    try:
        width, height = window.screen.get_size()
        assert width == 64 and height > 64  # a caption strip under the 64x64 frame
        window.show(np.zeros((16, 16, 3), np.uint8))
        strip = pygame.surfarray.array3d(window.screen)[:, 64:]  # (W, strip, 3)
        assert strip.max() > 150 and strip.min() < 50  # light text on the dark strip
        assert pygame.mixer.get_init() is None  # the mixer (audio) was never started
    finally:
        window.close()


def test_keys_and_policies_map_to_actions(tiny_ckpt: Path) -> None:
    controls = LCVGEnv(tiny_ckpt, control="rotation").core.controls
    np.testing.assert_array_equal(keys_to_action(True, False, True, False, controls), [-1, -1, 0])
    np.testing.assert_array_equal(keys_to_action(False, False, False, False, controls), [0, 0, 0])
    assert parse_policy("random", 3) is None
    np.testing.assert_array_equal(parse_policy("constant:0.5,-1", 2), [0.5, -1.0])
    with pytest.raises(typer.BadParameter, match=r"give 2 values \(DX,DY\), e\.g\. constant:0\.5,-1\.$"):
        parse_policy("constant:1", 2)  # no "or 2 (the full action)" when the full action is the two values
    with pytest.raises(typer.BadParameter, match=r"give 2 values \(DX,DY\) or 3 \(the full action\)"):
        parse_policy("constant:1", 3)


def test_rollout_runs_the_mujoco_pusher_with_the_options_it_has(tiny_ckpt64: Path, tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    out = tmp_path / "real.mp4"
    args = ["rollout", "LCVG-PusherMuJoCo-v0", "-c", str(tiny_ckpt64), "--steps", "3", "--out", str(out)]
    try:
        # --threads is torch's setting for the process; --task reach and --players 1 are what it runs anyway
        result = CliRunner().invoke(app, [*args, "--threads", "2", "--task", "reach", "--players", "1"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    assert "4 frames, 3 steps" in result.output and out.is_file()


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [("rollout", "--task", "none"), ("rollout", "--players", "2"), ("play", "--task", "reach_each")],
)
def test_mujoco_pusher_refuses_a_task_or_players_it_cannot_run_in_one_line(
    command: str, option: str, value: str, tmp_path: Path, headless: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gymnasium, "make", lambda *a, **k: pytest.fail("built the env"))
    extra = ["--out", str(tmp_path / "v.mp4")] if command == "rollout" else ["--max-steps", "1"]
    result = CliRunner().invoke(app, [command, "LCVG-PusherMuJoCo-v0", option, value, *extra])
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and message.startswith("Error: LCVG-PusherMuJoCo-v0")
    assert f"{option} {value}" in message and f"drop {option}" in message
