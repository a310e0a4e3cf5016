import pytest
import torch

from dip_engine import nets
from dip_engine.nets import inputs


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_default_skip_has_the_authors_parameter_count():
    # 32 input channels, 128 x 5 scales, 4 skip channels: the authors' denoising/SR network.
    assert n_params(nets.skip(32, 3, 128, 5, 4)) == 2_217_831


@pytest.mark.parametrize("kw", [
    dict(channels=(8, 16, 32, 64, 128), skip_channels=(0, 0, 0, 4, 4), c_in=3),
    dict(channels=16, skip_channels=0, upsample="nearest", c_in=2),
    dict(channels=(4, 8, 8, 8, 8, 8), scales=6, skip_channels=0, kernel_down=5, need1x1_up=False, c_in=1),
    dict(channels=8, pad="zeros", c_in=4),
])
def test_skip_variants_keep_size_and_range(kw):
    net = nets.skip(c_out=3, **kw)
    size = net.min_size
    out = net(torch.rand(1, kw["c_in"], size, size))
    assert out.shape == (1, 3, size, size)
    assert 0 <= float(out.detach().min()) and float(out.detach().max()) <= 1


def test_zero_padding_has_no_padding_layers():
    zeros, refl = nets.skip(4, 3, 8, 3, 2, pad="zeros"), nets.skip(4, 3, 8, 3, 2)
    assert not any(isinstance(m, torch.nn.ReflectionPad2d) for m in zeros.modules())
    assert any(isinstance(m, torch.nn.ReflectionPad2d) for m in refl.modules())
    assert n_params(zeros) == n_params(refl)


def test_deep_decoder_any_output_size():
    d = nets.DeepDecoder(c_out=1, channels=8, layers=4)
    h, w = 37, 53
    z = torch.rand(1, 8, *d.input_size(h, w))
    assert d(z, (h, w)).shape == (1, 1, h, w)
    assert n_params(d) < 1000


def test_inputs():
    g = torch.Generator().manual_seed(0)
    z = inputs.noise(32, 8, 16, g)
    assert z.shape == (1, 32, 8, 16) and 0 <= float(z.min()) and float(z.max()) < 0.1
    m = inputs.meshgrid(8, 16)
    assert m.shape == (1, 2, 8, 16) and float(m[0, 0, 0, -1]) == 1.0 and float(m[0, 1, -1, 0]) == 1.0
    assert torch.equal(inputs.perturb(z, 0.0), z)
    assert not torch.equal(inputs.perturb(z, 0.03, g), z)
