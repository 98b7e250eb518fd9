from __future__ import annotations

import pytest
import torch

from lcvg_env.models import PRESETS, LayeredGenerator, PatchGAN, count_parameters, get_preset


def _meta_counts(name: str) -> tuple[int, int]:
    preset = get_preset(name)
    with torch.device("meta"):
        return count_parameters(LayeredGenerator(preset.generator)), count_parameters(
            PatchGAN(preset.discriminator)
        )


def test_bair_parameter_counts_match_released_configuration():
    gen, disc = _meta_counts("bair-256")
    assert gen == pytest.approx(30.32e6, rel=0.01)
    assert disc == pytest.approx(2.77e6, rel=0.01)
    preset = get_preset("bair-256")
    with torch.device("meta"):
        g = LayeredGenerator(preset.generator)
    assert count_parameters(g.encoder) == pytest.approx(7.63e6, rel=0.01)
    assert count_parameters(g.decoder) == pytest.approx(10.92e6, rel=0.01)
    assert count_parameters(g.mask_net) == pytest.approx(11.38e6, rel=0.01)
    assert count_parameters(g.quantizer) == 1024 * 256


def test_tiny_preset_is_cpu_sized():
    gen, _ = _meta_counts("tiny-64")
    assert gen <= 6e6


def test_large_preset_grows_only_the_autoencoder():
    """The budget's third size: base-64's M and latent grid, a wider autoencoder, base-64's recipe."""
    from training.config import preset_config

    base, large = get_preset("base-64").generator, get_preset("large-64").generator
    assert large.mask == base.mask and large.latent_size == base.latent_size
    assert large.autoencoder.base_channels == 2 * base.autoencoder.base_channels
    assert _meta_counts("large-64")[0] > 2.5 * _meta_counts("base-64")[0]
    recipe = {k: v for k, v in vars(preset_config("large-64")).items() if k != "preset"}
    assert recipe == {k: v for k, v in vars(preset_config("base-64")).items() if k != "preset"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_output_shapes(name):
    cfg = get_preset(name).generator
    torch.manual_seed(0)
    gen = LayeredGenerator(cfg).eval()
    x = torch.rand(1, 3, cfg.height, cfg.width) * 2 - 1
    with torch.no_grad():
        m = gen.mask(x)
        out = gen.generate(x, m)
        stepped = gen.step(x, torch.zeros(1, 2), "translation")
    h, w = cfg.latent_size
    assert m.shape == (1, 1, cfg.height, cfg.width)
    assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
    assert out.frame.shape == (1, 3, cfg.height, cfg.width)
    assert out.indices.shape == (1, 2, h, w)
    assert out.vq_loss.shape == (1,)
    assert stepped.frame.shape == (1, 3, cfg.height, cfg.width)
    assert torch.isfinite(out.frame).all()


def test_layers_split_the_frame(tiny_generator):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 8:16, 8:16] = 1.0
    fg, bg = tiny_generator.layers(x, m)
    torch.testing.assert_close(fg + bg, x)
    assert fg[:, :, :8].abs().sum() == 0
    assert bg[:, :, 8:16, 8:16].abs().sum() == 0


def test_generate_is_differentiable_through_mask_and_codebook(tiny_generator):
    gen = tiny_generator.train()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = gen.generate(x, gen.mask(x))
    (out.frame.abs().mean() + out.vq_loss.mean()).backward()
    assert gen.mask_net.net[1].weight.grad is not None
    assert gen.encoder.conv_in.weight.grad is not None
    assert gen.quantizer.embedding.weight.grad is not None
    assert gen.decoder.last_layer.grad is not None


def test_step_rejects_wrong_shapes(tiny_generator):
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="controls of shape"):
        tiny_generator.step(x, torch.zeros(1, 3), "translation")
    with pytest.raises(ValueError, match="resize frames"):
        tiny_generator.mask(torch.zeros(1, 3, 30, 32))


def test_bf16_weights_run_and_agree_with_fp32(tiny_generator):
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    m = (torch.rand(1, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        ref = tiny_generator.generate(x, m).frame
        low = tiny_generator.to(torch.bfloat16).generate(x.bfloat16(), m).frame
    assert low.dtype == torch.float32
    assert (low - ref).abs().mean() < 0.05


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="tiny-64"):
        get_preset("nope")


def test_pixel_unshuffle_stems_keep_per_pixel_outputs_and_latent_size():
    from lcvg_env.models import AutoencoderConfig, GeneratorConfig, MaskNetConfig, QuantizerConfig

    cfg = GeneratorConfig(
        height=32,
        width=48,
        mask=MaskNetConfig(base_channels=4, num_downsample=1, num_blocks=1, patch_size=2),
        autoencoder=AutoencoderConfig(
            base_channels=4,
            channel_mult=(1, 2),
            num_res_blocks=1,
            attn_resolutions=(),
            z_channels=8,
            mid_attention=False,
            mid_blocks=1,
            decoder_extra_block=False,
            patch_size=2,
        ),
        quantizer=QuantizerConfig(num_codes=16, code_dim=8),
    )
    assert cfg.autoencoder.downsample_factor == 4 and cfg.latent_size == (8, 12)
    torch.manual_seed(0)
    gen = LayeredGenerator(cfg).eval()
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        m = gen.mask(x)
        out = gen.generate(x, (m > 0.5).float())
    assert m.shape == (2, 1, 32, 48) and out.frame.shape == (2, 3, 32, 48)
    assert out.indices.shape == (2, 2, 8, 12)
    # One mid block and no extra decoder block: fewer residual blocks than the VQGAN default.
    n_blocks = sum(type(mod).__name__ == "ResnetBlock" for mod in gen.modules())
    assert n_blocks == (1 + 1 + 1) + (1 + 1 + 1)  # E: 2 levels + mid; D: mid + 2 levels


def test_mask_net_frame_size_must_divide_its_patch_and_downsampling():
    from lcvg_env.models import AutoencoderConfig, GeneratorConfig, MaskNetConfig

    ae = AutoencoderConfig(channel_mult=(1, 2))  # f = 2 divides 36
    with pytest.raises(ValueError, match="divisible by 8"):
        mask = MaskNetConfig(num_downsample=2, patch_size=2)
        GeneratorConfig(height=36, width=36, mask=mask, autoencoder=ae)


def test_old_configs_without_the_new_fields_still_build():
    """Checkpoints written before patch_size / mid_blocks existed load with VQGAN's defaults."""
    from lcvg_env.models import AutoencoderConfig

    cfg = AutoencoderConfig(base_channels=8, channel_mult=(1, 2), num_res_blocks=1)
    assert cfg.patch_size == 1 and cfg.mid_blocks == 2 and cfg.decoder_extra_block
