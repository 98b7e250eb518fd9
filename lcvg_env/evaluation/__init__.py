"""Evaluation, in one package: how good a world model is, and how good a policy is in it.

- :mod:`lcvg_env.evaluation.video`: the video-prediction protocol (docs/method.md section 6):
  :func:`evaluate` -> :class:`EvalResult` (PSNR, SSIM, LPIPS, FID, KID, FVD, detection distance, errors
  against ground truth), and :func:`rollout`, the protocol's generation step;
- :mod:`lcvg_env.evaluation.masks`: M's binarized mask against a ground-truth mask (the check at the end
  of training's stage 1);
- :mod:`lcvg_env.evaluation.policy`: :func:`evaluate_policy` -> :class:`PolicyResult`, returns and
  success of any policy over seeded episodes of a vector env (``lcvg agent eval`` uses it);
- :mod:`lcvg_env.evaluation.cli`: ``lcvg evaluate``.

The measuring commands built on these (``lcvg control-gain``, ``env-realism``, ``budget``,
``reach-check``, ``sim-to-real``) live beside their own measures. Attributes load lazily (PEP 562):
the CLI imports this package at start-up.
"""

from __future__ import annotations

from lcvg_env.lazy import lazy_exports

_EXPORTS = {
    "EvalConfig": "lcvg_env.evaluation.video",
    "EvalResult": "lcvg_env.evaluation.video",
    "evaluate": "lcvg_env.evaluation.video",
    "rollout": "lcvg_env.evaluation.video",
    "mask_iou_summary": "lcvg_env.evaluation.masks",
    "PolicyResult": "lcvg_env.evaluation.policy",
    "evaluate_policy": "lcvg_env.evaluation.policy",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
