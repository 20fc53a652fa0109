"""The DDIM / consistency algebra every step is made of."""
import torch

from reverse_anything.diffusion.updates import data_consistency, ddim_renoise, predict_x0


def test_predict_x0_inverts_the_forward_process():
    torch.manual_seed(0)
    x0, eps = torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, dtype=torch.float64)
    a = torch.tensor([0.3, 0.8], dtype=torch.float64).view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    assert torch.allclose(predict_x0(x_t, eps, a), x0, atol=1e-12)
    assert torch.allclose(ddim_renoise(x0, eps, a), x_t, atol=1e-12)


class _Mask:
    """Inpainting-like A (keep half the pixels); A† = A."""

    def __init__(self, mask):
        self.mask = mask

    def A(self, x):
        return x * self.mask

    def A_dagger(self, y):
        return y * self.mask


def test_data_consistency_is_a_projection_onto_measurements():
    torch.manual_seed(0)
    physics = _Mask((torch.rand(1, 1, 8, 8) > 0.5).double())
    x, truth = torch.randn(1, 1, 8, 8, dtype=torch.float64), torch.randn(1, 1, 8, 8, dtype=torch.float64)
    y = physics.A(truth)
    projected = data_consistency(x, y, physics)
    assert torch.allclose(physics.A(projected), y)
    assert torch.allclose(projected * (1 - physics.mask), x * (1 - physics.mask))  # null space untouched
    half = data_consistency(x, y, physics, weight=0.5)
    assert torch.allclose(physics.A(half), 0.5 * (physics.A(x) + y))


def test_the_proximal_step_is_the_closed_form_for_a_blur_and_spans_projection_to_no_change():
    from reverse_anything.diffusion.updates import proximal_data_step
    from reverse_anything.physics import Blur, Inpainting

    torch.manual_seed(0)
    op = Blur((16, 16), sigma=1.5).double()
    x0, y = torch.rand(2, 1, 16, 16, dtype=torch.float64), torch.rand(2, 1, 16, 16, dtype=torch.float64)
    rho = torch.tensor([0.05, 2.0], dtype=torch.float64).view(-1, 1, 1, 1)
    spectrum = torch.fft.fft2(op.A(torch.zeros(1, 1, 16, 16, dtype=torch.float64).index_put_((torch.tensor(0),) * 4, torch.tensor(1.0, dtype=torch.float64))))
    closed = torch.fft.ifft2((spectrum.conj() * torch.fft.fft2(y) + rho * torch.fft.fft2(x0)) / (spectrum.abs() ** 2 + rho)).real
    torch.testing.assert_close(proximal_data_step(x0, y, op, rho, iterations=200), closed, rtol=1e-4, atol=1e-4)  # CG stops at 1e-6 residual
    mask = Inpainting((16, 16), keep_ratio=0.5).double()
    near_projection = proximal_data_step(x0, mask.A(y), mask, 1e-8, iterations=50)
    torch.testing.assert_close(near_projection, data_consistency(x0, mask.A(y), mask), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(proximal_data_step(x0, mask.A(y), mask, 1e8), x0, rtol=1e-6, atol=1e-6)
