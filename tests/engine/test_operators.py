import numpy as np
import pytest
import torch

from dip_engine.operators import Downsample, lanczos_kernel, weighted_mse


@pytest.mark.parametrize("factor", range(2, 9))
def test_downsample_sizes_and_constant_preserved(factor):
    op = Downsample(factor)
    x = torch.full((1, 3, factor * 9, factor * 5), 0.3)
    y = op(x)
    assert y.shape == (1, 3, 9, 5)
    assert torch.allclose(y, torch.full_like(y, 0.3), atol=1e-6)


def test_lanczos_kernel_symmetric_and_normalised():
    for f in (2, 3, 4):
        k = lanczos_kernel(f)
        assert np.isclose(k.sum(), 1) and np.allclose(k, k[::-1])


def test_downsample_is_centred():
    # A block of f x f ones at LR pixel (2, 3) lands mostly on that LR pixel.
    f = 4
    x = torch.zeros(1, 1, 8 * f, 8 * f)
    x[..., 2 * f:3 * f, 3 * f:4 * f] = 1
    y = Downsample(f)(x)[0, 0]
    assert tuple(np.unravel_index(int(y.argmax()), y.shape)) == (2, 3)
    assert float(y[2, 1]) == pytest.approx(float(y[2, 5]), abs=1e-6)
    assert float(y[1, 3]) == pytest.approx(float(y[3, 3]), abs=1e-6)


def test_bad_scale():
    with pytest.raises(ValueError):
        Downsample(9)


def test_masked_mse_ignores_unknown_pixels():
    known = torch.zeros(1, 1, 4, 4)
    known[..., :2, :] = 1
    a = torch.zeros(1, 3, 4, 4)
    b = a.clone()
    b[..., 2:, :] = 1  # differs only where unknown
    assert float(weighted_mse(a, b, known)) == 0
    b[..., 0, 0] = 1
    # three channels differ at one of the 8 known pixels: 3 / (8 * 3)
    assert float(weighted_mse(a, b, known)) == pytest.approx(0.125, rel=1e-6)
