"""Export action-labelled datasets: labels fitted to raw video, and rollouts of the environment.

* :func:`export_labels`: the mask network over every episode of a raw-video dataset, Eq. 5 between
  consecutive masks, the episodes written with their actions (``lcvg export labels``);
* :func:`export_rollouts`: episodes generated in the environment with sampled actions (data
  augmentation: new videos with exact action labels; ``lcvg export rollouts``);
* :func:`mimic`: the motion of a driving video replayed from another start frame (``lcvg mimic``).

Formats: Minari (default; :func:`load_minari`) or one ``.npz`` per episode (:func:`load_episode`).
Exports resume after an interruption and never overwrite a different dataset (:mod:`.store`).
Torch and minari are imported when a function runs, not here.
"""

from __future__ import annotations

from lcvg_env.lazy import lazy_exports

_EXPORTS = {
    "export_labels": "lcvg_env.export.labels",
    "label_episode": "lcvg_env.export.labels",
    "export_rollouts": "lcvg_env.export.rollouts",
    "PolicyConfig": "lcvg_env.export.rollouts",
    "mimic": "lcvg_env.export.mimic",
    "MimicResult": "lcvg_env.export.mimic",
    "load_minari": "lcvg_env.export.minari_io",
    "load_episode": "lcvg_env.export.store",
    "EpisodeRecord": "lcvg_env.export.store",
    "EpisodeStore": "lcvg_env.export.store",
    "ExportError": "lcvg_env.export.store",
    "ExportSummary": "lcvg_env.export.runner",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
