"""Named model presets: paper configurations and CPU-sized ones.

===================  ==========  ===================================================================
name                 frame       what it is
===================  ==========  ===================================================================
``bair-256``         256x256     the released BAIR configuration (generator 30.32M, PatchGAN 2.77M)
``tennis-96x256``    96x256      the Tennis configuration (same widths, 6x16 latents)
``tiny-64``          64x64       a CPU model (0.24M generator parameters, 0.23 GFLOP per step)
``base-64``          64x64       a quality-first candidate: tiny-64's layout, 2-4x wider and deeper
``large-64``         64x64       base-64 with an autoencoder twice as wide (the error budget's third size)
``atari-tennis-64``  64x64       tiny-64's networks for Atari Tennis (the paper's Tennis loss schedule)
===================  ==========  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lcvg_env.models.discriminator import PatchGANConfig
from lcvg_env.models.generator import GeneratorConfig
from lcvg_env.models.mask_net import MaskNetConfig
from lcvg_env.models.quantizer import QuantizerConfig
from lcvg_env.models.vqgan import AutoencoderConfig


@dataclass(frozen=True)
class Preset:
    """A named model configuration (generator + discriminator)."""

    name: str
    description: str
    generator: GeneratorConfig
    discriminator: PatchGANConfig = field(default_factory=PatchGANConfig)


_PAPER_AE = dict(base_channels=64, channel_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256)

PRESETS: dict[str, Preset] = {
    "bair-256": Preset(
        name="bair-256",
        description="Released BAIR configuration (paper, 256x256, 16x16 latents).",
        generator=GeneratorConfig(
            height=256,
            width=256,
            mask=MaskNetConfig(base_channels=64, num_downsample=2, num_blocks=9),
            autoencoder=AutoencoderConfig(**_PAPER_AE, attn_resolutions=(16,)),
            quantizer=QuantizerConfig(num_codes=1024, code_dim=256),
        ),
    ),
    "tennis-96x256": Preset(
        name="tennis-96x256",
        description="Tennis configuration (paper, 96x256, 6x16 latents).",
        generator=GeneratorConfig(
            height=96,
            width=256,
            mask=MaskNetConfig(base_channels=64, num_downsample=2, num_blocks=9),
            autoencoder=AutoencoderConfig(**_PAPER_AE, attn_resolutions=(16,)),
            quantizer=QuantizerConfig(num_codes=1024, code_dim=256),
        ),
    ),
    "tiny-64": Preset(
        name="tiny-64",
        description="CPU model for 64x64 video (16x16 latents); 115-160 env steps/s on 2 cores.",
        generator=GeneratorConfig(
            height=64,
            width=64,
            # Sized for speed on 2 CPU cores (benchmarks/bench_generator.py). The step is compute-bound and
            # small convolutions at full resolution are the least efficient part, so both networks start
            # with a 2x2 pixel-unshuffle and run at 32x32 and below (the mask and the frame are still
            # predicted per pixel, through a pixel-shuffle). 0.23 GFLOP per step (torch FlopCounterMode),
            # against 0.63 GFLOP for the first bundled model's full-resolution design; 16x16 latents
            # (f = 4), so that a control moves the foreground with pixel precision. A deeper M (down to 8x8,
            # six blocks) raised the mask IoU with the arm from 0.41 to 0.46 but drew a halo that halved the
            # scripted reach success in the env (0.76 -> 0.44; docs/training.md), so M stays at 16x16.
            mask=MaskNetConfig(base_channels=16, num_downsample=1, num_blocks=3, patch_size=2),
            autoencoder=AutoencoderConfig(
                base_channels=16,
                channel_mult=(1, 2),
                num_res_blocks=1,
                attn_resolutions=(),
                z_channels=32,
                mid_attention=False,
                mid_blocks=1,
                patch_size=2,
            ),
            quantizer=QuantizerConfig(num_codes=512, code_dim=32),
        ),
        discriminator=PatchGANConfig(base_channels=32, num_layers=3),
    ),
    "base-64": Preset(
        name="base-64",
        description="Quality-first candidate for 64x64 video (16x16 latents): tiny-64's layout, wider.",
        generator=GeneratorConfig(
            height=64,
            width=64,
            # The fidelity candidate of issue 16's error budget (docs/fidelity.md): tiny-64's layout (2x2
            # pixel-unshuffle, 16x16 latents, M at 16x16) with twice the widths, two residual blocks per
            # level and a 1024-entry codebook, so that the decoder can redraw the gripper at a new place.
            mask=MaskNetConfig(base_channels=32, num_downsample=1, num_blocks=4, patch_size=2),
            autoencoder=AutoencoderConfig(
                base_channels=32,
                channel_mult=(1, 2),
                num_res_blocks=2,
                attn_resolutions=(),
                z_channels=64,
                mid_attention=False,
                mid_blocks=2,
                patch_size=2,
            ),
            quantizer=QuantizerConfig(num_codes=1024, code_dim=64),
        ),
        discriminator=PatchGANConfig(base_channels=32, num_layers=3),
    ),
}

# The third size of issue 16's error budget (docs/fidelity.md). base-64's one-step redraw of a real frame
# is what keeps the env's KID far from real ("Where the env's KID gap comes from"), and M's IoU did not move
# between the two smaller sizes, so only the autoencoder grows: twice the widths, z and codes of 128 dims
# (3.1x the parameters; 1.9x base-64's training step on one thread, E, Z, D and M forward and backward at
# batch 8). M, the latent grid and the discriminator stay base-64's.
_BASE = PRESETS["base-64"].generator
PRESETS["large-64"] = replace(
    PRESETS["base-64"],
    name="large-64",
    description="base-64 with a twice-as-wide autoencoder, 128-d codes: the error budget's third size.",
    generator=replace(
        _BASE,
        autoencoder=replace(_BASE.autoencoder, base_channels=64, z_channels=128),
        quantizer=replace(_BASE.quantizer, code_dim=128),
    ),
)

# Atari Tennis (``lcvg data atari-tennis``, 64x64 frames): the same networks as tiny-64; the players are two
# small sprites (about 9x6 pixels, 0.6% of the frame each, docs/data.md), so what differs is the training
# schedule (training/config.py), not the model.
PRESETS["atari-tennis-64"] = replace(
    PRESETS["tiny-64"],
    name="atari-tennis-64",
    description="Atari Tennis at 64x64: tiny-64's networks, the paper's Tennis loss schedule.",
)


def get_preset(name: str) -> Preset:
    """Look up a preset by name; a clear error lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}; known presets: {', '.join(PRESETS)}.") from None


def preset_summaries() -> list[dict]:
    """One row per preset: name, height, width, generator_params, discriminator_params, description.

    Parameter counts are measured by building the modules on the meta device (no memory, fast).
    """
    import torch

    from lcvg_env.models.discriminator import PatchGAN
    from lcvg_env.models.generator import LayeredGenerator, count_parameters

    rows = []
    for p in PRESETS.values():
        with torch.device("meta"):
            gen, disc = LayeredGenerator(p.generator), PatchGAN(p.discriminator)
        rows.append(
            {
                "name": p.name,
                "height": p.generator.height,
                "width": p.generator.width,
                "generator_params": count_parameters(gen),
                "discriminator_params": count_parameters(disc),
                "description": p.description,
            }
        )
    return rows
