"""The JSON half of the safe agent format: spaces, policy keywords and the allow-lists that bound them.

A stable-baselines3 ``.zip`` names classes and spaces by pickling them, so reading one runs code.
Here every value is plain JSON; a class is ``{"__class__": NAME}`` with ``NAME`` looked up in
:func:`allowed_classes` (a fixed table of imports, never ``importlib`` on a name from the file), and
a policy is one of :func:`policy_classes` for its algorithm. Spaces are described by value::

    {"type": "Box", "shape": [3, 64, 64], "dtype": "uint8", "low": 0, "high": 255}
    {"type": "Discrete", "n": 5, "start": 0}
    {"type": "Dict", "spaces": [["image", {...}], ["desired_goal", {...}]]}   # order kept

Box bounds are one number when uniform, else nested lists; infinities are the strings ``"inf"``
and ``"-inf"`` (strict JSON has none).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np

CLASS_KEY = "__class__"
SPACE_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
SPACE_KEYS = {
    "Box": {"type", "shape", "dtype", "low", "high"},
    "Discrete": {"type", "n", "start"},
    "Dict": {"type", "spaces"},
}


class AgentFormatError(ValueError):
    """A safe agent file that is malformed, or names something outside the allow-lists."""


@cache
def policy_classes() -> dict[str, dict[str, type]]:
    """The SB3 policy classes the safe format rebuilds, per algorithm (``agents.config.ALGOS``)."""
    from stable_baselines3.common import policies as common
    from stable_baselines3.dqn import policies as dqn
    from stable_baselines3.sac import policies as sac

    return {
        "ppo": {
            cls.__name__: cls
            for cls in (
                common.ActorCriticPolicy,
                common.ActorCriticCnnPolicy,
                common.MultiInputActorCriticPolicy,
            )
        },
        "sac": {
            "SACPolicy": sac.SACPolicy,
            "CnnPolicy": sac.CnnPolicy,
            "MultiInputPolicy": sac.MultiInputPolicy,
        },
        "dqn": {
            "DQNPolicy": dqn.DQNPolicy,
            "CnnPolicy": dqn.CnnPolicy,
            "MultiInputPolicy": dqn.MultiInputPolicy,
        },
    }


@cache
def allowed_classes() -> dict[str, type]:
    """The classes policy keywords may name (activations, optimizers, features extractors), by public path."""
    from stable_baselines3.common import torch_layers
    from torch import nn, optim

    from . import networks

    table: dict[str, type] = {}
    for prefix, module, names in (
        ("torch.nn", nn, ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Softplus")),
        ("torch.optim", optim, ("Adam", "AdamW", "RMSprop", "SGD")),
        (
            "stable_baselines3.common.torch_layers",
            torch_layers,
            ("NatureCNN", "FlattenExtractor", "CombinedExtractor"),
        ),
        ("agents.networks", networks, ("CoordCNN", "KeypointCNN", "CombinedExtractor", "GoalsExtractor")),
    ):
        table.update({f"{prefix}.{name}": getattr(module, name) for name in names})
    return table


def encode_value(value: Any, where: str) -> Any:
    """A policy keyword's value as JSON: numbers, strings, lists, str-keyed dicts, allow-listed classes."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} = {value!r}: the safe agent format stores finite numbers only.")
        return value
    if isinstance(value, list | tuple):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) and CLASS_KEY not in value:
        return {k: encode_value(v, f"{where}.{k}") for k, v in value.items()}
    names = {cls: name for name, cls in allowed_classes().items()}
    if isinstance(value, type) and value in names:
        return {CLASS_KEY: names[value]}
    raise ValueError(
        f"{where} = {value!r} cannot be stored in the safe agent format: it holds JSON values and the "
        f"classes {sorted(allowed_classes())}. Train with those, or add the class to "
        "agents.safe_json.allowed_classes if it is yours."
    )


def decode_value(value: Any, where: str) -> Any:
    """The inverse of :func:`encode_value`; an unknown ``__class__`` is an :class:`AgentFormatError`."""
    if isinstance(value, list):
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if CLASS_KEY not in value:
        return {k: decode_value(v, f"{where}.{k}") for k, v in value.items()}
    name = value[CLASS_KEY]
    if len(value) != 1 or name not in allowed_classes():
        raise AgentFormatError(
            f"{where} names the class {name!r}, which is not allow-listed; the safe format only builds "
            f"{sorted(allowed_classes())}. Re-save the agent with those classes."
        )
    return allowed_classes()[name]


def space_to_json(space: gym.Space, where: str = "space") -> dict[str, Any]:
    """A Box, Discrete or Dict (of those) space as JSON (see the module docstring)."""
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": space.dtype.name,
            "low": _bound_to_json(space.low, where),
            "high": _bound_to_json(space.high, where),
        }
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": [[k, space_to_json(s, f"{where}.{k}")] for k, s in space.items()]}
    raise ValueError(f"{where}: the safe agent format stores Box, Discrete and Dict spaces, got {space}.")


def space_from_json(doc: Any, where: str) -> gym.Space:
    """The space :func:`space_to_json` described; anything malformed is an :class:`AgentFormatError`."""
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind not in SPACE_KEYS:
        raise AgentFormatError(f"{where} must be an object with type Box, Discrete or Dict, got {doc!r}.")
    if set(doc) != SPACE_KEYS[kind]:
        raise AgentFormatError(f"{where}: a {kind} space has exactly the keys {sorted(SPACE_KEYS[kind])}.")
    if kind == "Discrete":
        n, start = doc["n"], doc["start"]
        if not (_is_int(n) and n >= 1 and _is_int(start)):
            raise AgentFormatError(f"{where}: Discrete needs an integer n >= 1 and start, got {doc!r}.")
        return gym.spaces.Discrete(n, start=start)
    if kind == "Dict":
        entries = doc["spaces"]
        if not (isinstance(entries, list) and all(_is_entry(e) for e in entries)):
            raise AgentFormatError(f"{where}.spaces must be a list of [name, space] pairs.")
        return gym.spaces.Dict([(k, space_from_json(s, f"{where}.{k}")) for k, s in entries])
    return _box_from_json(doc, where)


def _box_from_json(doc: dict[str, Any], where: str) -> gym.spaces.Box:
    shape, dtype = doc["shape"], doc["dtype"]
    if not (isinstance(shape, list) and shape and all(_is_int(d) and d >= 1 for d in shape)):
        raise AgentFormatError(f"{where}.shape must be a list of positive integers, got {shape!r}.")
    if dtype not in SPACE_DTYPES:
        raise AgentFormatError(f"{where}.dtype must be one of {SPACE_DTYPES}, got {dtype!r}.")
    low, high = (_bound_from_json(doc[key], tuple(shape), dtype, f"{where}.{key}") for key in ("low", "high"))
    if np.any(low > high):
        raise AgentFormatError(f"{where}: low exceeds high.")
    return gym.spaces.Box(low, high, shape=tuple(shape), dtype=np.dtype(dtype))


def _bound_to_json(bound: np.ndarray, where: str) -> Any:
    if np.isnan(bound).any():
        raise ValueError(f"{where}: a Box bound is NaN; the safe agent format cannot store it.")
    flat = bound.reshape(-1)
    if (flat == flat[0]).all():
        return _number_to_json(flat[0].item())
    return _nested(bound.tolist(), _number_to_json)


def _bound_from_json(value: Any, shape: tuple[int, ...], dtype: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(_nested(value, _number_from_json), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise AgentFormatError(f"{where} must be a number or nested lists of numbers ({e}).") from e
    if array.ndim and array.shape != shape:
        raise AgentFormatError(f"{where} has shape {array.shape}, but the space's shape is {shape}.")
    if np.issubdtype(np.dtype(dtype), np.floating):  # integer bounds stay float: Box maps +-inf itself
        array = array.astype(dtype)
    return np.broadcast_to(array, shape)


def _number_to_json(x: float | int) -> float | int | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _number_from_json(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float | str) or math.isnan(value := float(x)):
        raise ValueError(f"{x!r} is not a number")
    return value


def _nested(value: Any, fn: Any) -> Any:
    return [_nested(v, fn) for v in value] if isinstance(value, list) else fn(value)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_entry(entry: Any) -> bool:
    return isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
