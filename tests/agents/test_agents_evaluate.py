"""The evaluation loop and the reference rows, in the colour-threshold test double (see conftest)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lcvg_agents.envs import make_vector_env
from lcvg_agents.loading import baseline_policy
from lcvg_env.evaluation.policy import evaluate_policy, wilson_interval


def colour_env(checkpoint, num_envs: int = 4, **kwargs):
    return make_vector_env(
        "LCVG-Pusher-v0", num_envs, {"checkpoint": checkpoint, "max_episode_steps": 30, **kwargs}
    )


def test_colour_double_follows_the_control(colour_checkpoint):
    """The test double is honest: a translation by (+4, 0) px moves the centroid 4 px right."""
    venv = colour_env(colour_checkpoint, num_envs=1, task="none")
    _, info = venv.reset(seed=0)
    before = info["centroid_px"][0].copy()
    _, _, _, _, info = venv.step(np.array([[1.0, 0.0]], np.float32))
    np.testing.assert_allclose(info["centroid_px"][0] - before, [4.0, 0.0], atol=0.5)


def test_scripted_controller_succeeds_and_beats_random(colour_checkpoint, tmp_path):
    venv = colour_env(colour_checkpoint)
    scripted = evaluate_policy(
        baseline_policy("scripted", venv), venv, 8, seed=5, name="scripted", video_path=tmp_path / "s.mp4"
    )
    random = evaluate_policy(baseline_policy("random", venv, seed=0), venv, 8, seed=5, name="random")
    assert scripted.success_rate == 1.0
    assert max(scripted.lengths) < 30  # terminated on success before the time limit
    assert max(scripted.final_distances) <= 2.0  # the default success radius at 32 px
    assert scripted.mean_return > random.mean_return
    assert random.success_rate < 1.0
    assert (tmp_path / "s.mp4").stat().st_size > 0 and scripted.video == str(tmp_path / "s.mp4")


def test_a_video_that_cannot_be_written_keeps_the_figures(colour_checkpoint, tmp_path, monkeypatch):
    """ffmpeg stopping at the end (agent eval, agent train's final evaluation) costs the video, not the
    evaluation: the figures come back with the reason."""
    from lcvg_env.outputs import OutputError

    def broken_ffmpeg(frames, path, *args, **kwargs):
        raise OutputError(f"{path}: could not write the video (ffmpeg stopped).")

    venv = colour_env(colour_checkpoint, num_envs=2)
    ok = evaluate_policy(baseline_policy("scripted", venv), venv, 2, seed=5)
    monkeypatch.setattr("lcvg_env.env.render.write_video", broken_ffmpeg)
    result = evaluate_policy(
        baseline_policy("scripted", venv), venv, 2, seed=5, video_path=tmp_path / "v.mp4"
    )
    assert result.returns == ok.returns and result.video is None
    assert "ffmpeg stopped" in result.video_error and result.to_json()["video_error"] == result.video_error


def test_evaluation_is_seeded_and_counts_episodes(colour_checkpoint):
    venv = colour_env(colour_checkpoint, num_envs=3)
    policy = baseline_policy("random", venv, seed=1)
    a = evaluate_policy(policy, venv, 5, seed=7)
    b = evaluate_policy(baseline_policy("random", venv, seed=1), venv, 5, seed=7)
    assert a.episodes == 5 and len(a.returns) == len(a.successes) == len(a.lengths) == 5
    assert a.returns == b.returns
    row = json.loads(json.dumps(a.to_json()))
    assert {"mean_return", "std_return", "success_rate", "episodes"} <= set(row)
    assert row["mean_return"] == pytest.approx(np.mean(a.returns))
    assert row["std_return"] == pytest.approx(np.std(a.returns))
    lo, hi = row["success_ci90"]
    assert lo <= row["success_rate"] <= hi and [lo, hi] == wilson_interval(sum(a.successes), 5)


def test_wilson_interval_of_a_success_rate():
    assert wilson_interval(50, 100) == [0.4188, 0.5812]  # p = 0.5: centred, z * sqrt(pq / n) / (1 + z^2 / n)
    lo, hi = wilson_interval(44, 50)  # 0.88 over 50 episodes
    assert lo < 0.88 < hi and hi - 0.88 < 0.88 - lo  # skewed towards the middle near 1
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] > 0.0 and wilson_interval(10, 10)[0] < 1.0  # never empty at the ends
    a, b = wilson_interval(30, 50), wilson_interval(300, 500)
    assert b[1] - b[0] < a[1] - a[0]  # ten times the episodes, a narrower interval
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_no_task_has_no_success_rate(colour_checkpoint):
    venv = colour_env(colour_checkpoint, num_envs=2, task="none", max_episode_steps=3)
    result = evaluate_policy(baseline_policy("random", venv), venv, 2)
    assert result.success_rate is None and result.to_json()["success_rate"] is None
    assert result.to_json()["success_ci90"] is None
    assert result.lengths == [3, 3] and result.mean_return == 0.0
    with pytest.raises(ValueError, match="goal_px"):
        evaluate_policy(baseline_policy("scripted", venv), venv, 1)


def test_dict_observations_evaluate_and_record_like_pixels(colour_checkpoint, tmp_path):
    """``observation="dict"`` runs through the same loop: same episodes, the video shows the image key."""
    pixels = colour_env(colour_checkpoint)
    dicts = colour_env(colour_checkpoint, observation="dict")
    a = evaluate_policy(baseline_policy("scripted", pixels), pixels, 4, seed=5)
    b = evaluate_policy(baseline_policy("scripted", dicts), dicts, 4, seed=5, video_path=tmp_path / "d.mp4")
    assert a.returns == b.returns and a.successes == b.successes
    assert (tmp_path / "d.mp4").stat().st_size > 0
