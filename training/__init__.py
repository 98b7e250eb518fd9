"""World-model training for lcvg-env: both stages of LCVG (docs/method.md sections 3-5).

The repository's ``training/`` folder, installed as ``lcvg_training`` (a generic top-level name would
collide with other projects); modules import each other relatively, so ``python -m training`` run from
a checkout's root uses that checkout's code.

``lcvg train DATA --out RUN`` (:mod:`training.cli`) drives :class:`training.trainer.Trainer`; configs and
per-preset defaults live in :mod:`training.config`, the losses (and the PatchGAN) in :mod:`training.losses`.
"""
