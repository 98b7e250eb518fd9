from __future__ import annotations

import torch

from lcvg_env.models import QuantizerConfig, VectorQuantizer


def test_quantizer_picks_nearest_code_and_passes_gradient_straight_through():
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(num_codes=4, code_dim=2, beta=0.25))
    with torch.no_grad():
        vq.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    z = torch.tensor([[0.9, 0.1], [0.1, 0.8]]).t().reshape(1, 2, 1, 2).clone().requires_grad_(True)
    z_q, loss, idx = vq(z)
    assert idx.tolist() == [[[1, 2]]]
    torch.testing.assert_close(z_q.detach(), torch.tensor([[1.0, 0.0], [0.0, 1.0]]).t().reshape(1, 2, 1, 2))
    # Straight-through: d(sum z_q)/dz is the identity.
    (z_q.sum()).backward(retain_graph=True)
    torch.testing.assert_close(z.grad, torch.ones_like(z))
    # Correct VQ loss form: codebook term + beta * commitment term, both equal to the mse here.
    mse = ((z.detach() - z_q.detach()) ** 2).mean()
    torch.testing.assert_close(loss, (1.0 + 0.25) * mse.reshape(1))


def test_beta_weights_the_commitment_term_not_the_codebook_term():
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(num_codes=8, code_dim=4, beta=0.25))
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    _, loss, _ = vq(z)
    loss.sum().backward()
    z_q = vq.embedding.weight[vq(z)[2].flatten()].reshape(2, 3, 3, 4).permute(0, 3, 1, 2)
    # d/dz of beta * mean((z - sg[e])^2) = beta * 2 (z - e) / n
    n = 4 * 3 * 3
    expected = 0.25 * 2 * (z - z_q).detach() / n
    torch.testing.assert_close(z.grad, expected)


def test_blocked_nearest_codes_match_the_full_distance_matrix(monkeypatch):
    import lcvg_env.models.quantizer as quantizer

    torch.manual_seed(0)
    flat, codebook = torch.randn(300, 8), torch.randn(16, 8)
    monkeypatch.setattr(quantizer, "CHUNK_ROWS", 64)  # several blocks and a ragged last one
    expected = torch.cdist(flat, codebook).argmin(dim=1)
    assert torch.equal(quantizer.nearest_codes(flat, codebook), expected)


def test_inference_path_gives_the_training_path_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(num_codes=32, code_dim=4, beta=0.25))
    z = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        z_q_inf, loss_inf, idx_inf = vq(z)
    z_q, loss, idx = vq(z.clone().requires_grad_(True))
    assert torch.equal(idx_inf, idx)
    torch.testing.assert_close(z_q_inf, z_q.detach())
    torch.testing.assert_close(loss_inf, loss.detach())
    assert z_q_inf.is_contiguous()  # the decoder's convolutions and GroupNorm take the fast NCHW path


def test_grouped_argmin_equals_argmin_with_ties_and_nan():
    from lcvg_env.models.quantizer import ARGMIN_GROUP, argmin_rows

    torch.manual_seed(0)
    k = 4 * ARGMIN_GROUP
    dist = torch.randn(200, k)
    ties = torch.randint(0, 3, (200, k)).float()  # many equal minima: the first one must win
    with_nan = dist.clone()
    with_nan[5, 70] = float("nan")
    for matrix in (dist, ties, with_nan, torch.randn(7, 48)):  # 48: not a multiple, plain argmin
        assert torch.equal(argmin_rows(matrix), matrix.argmin(dim=1))
    assert argmin_rows(with_nan)[5] == 70


def test_blocked_nearest_codes_with_a_grouped_codebook(monkeypatch):
    import lcvg_env.models.quantizer as quantizer

    torch.manual_seed(1)
    flat, codebook = torch.randn(500, 8), torch.randn(128, 8)
    monkeypatch.setattr(quantizer, "CHUNK_ROWS", 128)
    expected = torch.cdist(flat, codebook).argmin(dim=1)
    assert torch.equal(quantizer.nearest_codes(flat, codebook), expected)
