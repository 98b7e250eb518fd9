"""World-model training for lcvg-env: both stages of LCVG (docs/method.md sections 3-5).

``lcvg train DATA --out RUN`` (:mod:`training.cli`) drives :class:`training.trainer.Trainer`; configs and
per-preset defaults live in :mod:`training.config`, the losses (and the PatchGAN) in :mod:`training.losses`.
"""
