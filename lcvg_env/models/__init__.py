"""Models of LCVG: mask network M, encoder E, codebook Z, decoder D, PatchGAN C, the layered generator."""

from __future__ import annotations

from lcvg_env.models.discriminator import PatchGAN, PatchGANConfig
from lcvg_env.models.generator import GeneratorConfig, GeneratorOutput, LayeredGenerator, count_parameters
from lcvg_env.models.mask_net import MaskNetConfig, MaskNetwork
from lcvg_env.models.presets import PRESETS, Preset, get_preset, preset_summaries
from lcvg_env.models.quantizer import QuantizerConfig, VectorQuantizer
from lcvg_env.models.vqgan import AutoencoderConfig, Decoder, Encoder

__all__ = [
    "PRESETS",
    "AutoencoderConfig",
    "Decoder",
    "Encoder",
    "GeneratorConfig",
    "GeneratorOutput",
    "LayeredGenerator",
    "MaskNetConfig",
    "MaskNetwork",
    "PatchGAN",
    "PatchGANConfig",
    "Preset",
    "QuantizerConfig",
    "VectorQuantizer",
    "count_parameters",
    "get_preset",
    "preset_summaries",
]
