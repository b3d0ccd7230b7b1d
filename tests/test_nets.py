"""gdmcourse.nets: every network's output shapes for its documented inputs, the validation of
inputs and class labels, the timestep embedding against its formula written out with math,
the UNet's zero-initialised output, and parameter counts computed from the layer widths.
(MaskedConv2d's causality is tested in test_vqvae.py.)"""

import math

import pytest
import torch
from torch import nn

from gdmcourse import nets


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------ MLP

@pytest.mark.parametrize("in_shape, out_shape, x_shape, y_shape", [
    ((1, 28, 28), 10, (4, 1, 28, 28), (4, 10)),
    (2, (1, 28, 28), (3, 2), (3, 1, 28, 28)),
    ((2,), (), (5, 2), (5,)),                   # a scalar output per example (notebook 06's critic)
    ((3,), 2, (6, 7, 3), (6, 7, 2)),            # any leading batch dims
])
def test_mlp_shapes(in_shape, out_shape, x_shape, y_shape):
    model = nets.MLP(in_shape, out_shape, hidden=(16, 8))
    assert model(torch.randn(x_shape)).shape == y_shape


def test_mlp_parameter_count_and_layers():
    model = nets.MLP((1, 28, 28), 10, hidden=(256, 64))
    widths = [784, 256, 64, 10]
    assert _n_params(model) == sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    assert [type(m) for m in model.layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    no_bias = nets.MLP(5, 3, hidden=(), bias=False)
    assert _n_params(no_bias) == 15 and len(no_bias.layers) == 1
    squashed = nets.MLP(4, 6, hidden=(8,), activation=nn.Tanh, out_activation=nn.Sigmoid())
    assert isinstance(squashed.layers[1], nn.Tanh) and isinstance(squashed.layers[-1], nn.Sigmoid)
    y = squashed(100 * torch.randn(50, 4))
    assert y.min() >= 0 and y.max() <= 1


def test_mlp_rejects_the_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(batch, 1, 28, 28\)"):
        nets.MLP((1, 28, 28), 10)(torch.randn(4, 784))


# ------------------------------------------------------------------------------ conv encoder/decoder

def test_conv_encoder_and_decoder_shapes():
    enc = nets.ConvEncoder(out_dim=12, channels=1, width=8)
    assert enc(torch.randn(3, 1, 28, 28)).shape == (3, 12)
    # conv 1→8 (4×4), conv 8→16 (4×4), linear 16·7·7 → 12
    assert _n_params(enc) == (1 * 8 * 16 + 8) + (8 * 16 * 16 + 16) + (16 * 49 * 12 + 12)
    dec = nets.ConvDecoder(in_dim=12, channels=3, width=8, out_activation=nn.Sigmoid())
    out = dec(torch.randn(3, 12))
    assert out.shape == (3, 3, 28, 28) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="28, 28"):
        enc(torch.randn(3, 1, 32, 32))
    with pytest.raises(ValueError, match="28, 28"):
        enc(torch.randn(1, 28, 28))


# ------------------------------------------------------------------------------ DCGAN

def test_dcgan_generator_shapes_range_and_conditioning():
    torch.manual_seed(0)
    G = nets.DCGANGenerator(latent_dim=16, width=8).eval()
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1  # tanh output
    Gc = nets.DCGANGenerator(latent_dim=16, width=8, num_classes=10).eval()
    z = torch.randn(4, 16)
    a, b = Gc(z, torch.tensor([0, 1, 2, 3])), Gc(z, torch.tensor([3, 1, 2, 0]))
    assert a.shape == (4, 1, 28, 28)
    assert torch.allclose(a[1:3], b[1:3]) and not torch.allclose(a[0], b[0])  # the label changes the image
    with pytest.raises(ValueError, match=r"\(batch, 16\)"):
        G(torch.randn(5, 8))
    with pytest.raises(ValueError, match="unconditional"):
        G(torch.randn(2, 16), torch.tensor([0, 1]))


@pytest.mark.parametrize("labels, message", [
    (None, "conditional"),
    (torch.tensor([0, 1, 2]), r"shape \(4,\)"),         # one label too few
    (torch.tensor([0.0, 1.0, 2.0, 3.0]), "integers"),    # floats
    (torch.tensor([0, 1, 2, 10]), r"0\.\.9"),            # out of range
    (torch.tensor([-1, 1, 2, 3]), r"0\.\.9"),
])
def test_conditional_networks_validate_their_labels(labels, message):
    G = nets.DCGANGenerator(latent_dim=4, width=4, num_classes=10)
    D = nets.DCGANDiscriminator(width=4, hidden=8, num_classes=10)
    with pytest.raises(ValueError, match=message):
        G(torch.randn(4, 4), labels)
    with pytest.raises(ValueError, match=message):
        D(torch.rand(4, 1, 28, 28), labels)


def test_dcgan_discriminator_shapes_projection_and_spectral_norm():
    torch.manual_seed(0)
    D = nets.DCGANDiscriminator(width=8, hidden=16)
    assert D(torch.rand(6, 1, 28, 28)).shape == (6,)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    with pytest.raises(ValueError, match="unconditional"):
        D(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="28, 28"):
        D(torch.rand(2, 1, 27, 27))
    Dc = nets.DCGANDiscriminator(width=8, hidden=16, num_classes=3)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([0, 1, 2])
    # projection: logit = w·h + ⟨embed(y), h⟩
    h = Dc.features(x)
    expected = Dc.out(h).squeeze(1) + (Dc.embed(y) * h).sum(1)
    assert torch.allclose(Dc(x, y), expected)
    sn = nets.DCGANDiscriminator(width=8, hidden=16, num_classes=3, spectral_norm=True)
    wrapped = [m for m in sn.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))]
    assert len(wrapped) == 5 and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in wrapped)


# ------------------------------------------------------------------------------ SmallCNN

def test_small_cnn_features_and_logits():
    model = nets.SmallCNN(num_classes=7, feature_dim=32)
    x = torch.rand(2, 1, 28, 28)
    assert model.features(x).shape == (2, 32) and model(x).shape == (2, 7)
    assert (model.features(x) >= 0).all()  # after a ReLU
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.rand(2, 1, 8, 8))


# ------------------------------------------------------------------------------ timestep embedding

@pytest.mark.parametrize("dim", [2, 8, 9, 32])
def test_timestep_embedding_against_its_formula(dim):
    t = [0, 1, 7, 123.5, 999]
    emb = nets.timestep_embedding(torch.tensor(t), dim)
    assert emb.shape == (len(t), dim) and emb.dtype == torch.float32
    half = dim // 2
    for row, step in zip(emb.tolist(), t):
        for i in range(half):
            omega = 10_000.0 ** (-i / half)  # ω_i = max_period^(−i/(d/2))
            assert row[i] == pytest.approx(math.sin(step * omega), abs=2e-4)
            assert row[i + half] == pytest.approx(math.cos(step * omega), abs=2e-4)
        if dim % 2:
            assert row[-1] == 0.0  # an odd dim gets a zero last column


def test_timestep_embedding_max_period_and_errors():
    emb = nets.timestep_embedding(torch.tensor([3]), 4, max_period=100.0)
    assert emb[0].tolist() == pytest.approx([math.sin(3), math.sin(3 / 10), math.cos(3), math.cos(3 / 10)], abs=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        nets.timestep_embedding(torch.tensor([0]), 1)


# ------------------------------------------------------------------------------ UNet and TimeMLP

def test_unet_output_shape_and_zero_initialised_output():
    torch.manual_seed(0)
    model = nets.UNet(channels=1, width=8, mults=(1, 2, 2))
    x = torch.randn(2, 1, 28, 28)
    out = model(x, torch.tensor([0, 500]))
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(x))  # the last conv starts at zero: ε̂ = 0
    assert torch.equal(model.out[-1].weight, torch.zeros_like(model.out[-1].weight))
    with torch.no_grad():
        model.out[-1].weight.normal_()
    a, b = model(x, torch.tensor([0, 0])), model(x, torch.tensor([900, 900]))
    assert a.shape == x.shape and not torch.allclose(a, b)  # the step matters
    assert torch.allclose(model(x, torch.tensor(900)), b)   # one step broadcasts over the batch


@pytest.mark.parametrize("mults, attention, size", [((1, 2), False, 6), ((1, 1, 2, 2), True, 16)])
def test_unet_other_configurations(mults, attention, size):
    model = nets.UNet(channels=3, width=8, mults=mults, attention=attention)
    assert model(torch.randn(1, 3, size, size), torch.tensor([1])).shape == (1, 3, size, size)
    assert isinstance(model.attn, nn.Identity) != attention


def test_unet_rejects_unsuitable_images():
    model = nets.UNet(channels=1, width=8, mults=(1, 2, 2))
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.randn(1, 1, 30, 30), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\(batch, 1, H, W\)"):
        model(torch.randn(1, 3, 28, 28), torch.tensor([0]))


def test_time_mlp_shapes_parameters_and_errors():
    model = nets.TimeMLP(dim=2, hidden=16, layers=3, t_dim=8)
    assert model(torch.randn(5, 2), torch.arange(5)).shape == (5, 2)
    # inp 2→16, three time maps 8→16, two hidden 16→16, out 16→2
    assert _n_params(model) == (2 * 16 + 16) + 3 * (8 * 16 + 16) + 2 * (16 * 16 + 16) + (16 * 2 + 2)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        model(torch.randn(5, 3), torch.arange(5))


def test_dcgan_discriminator_as_the_lecture_lists_it():
    """batch_norm=True, hidden=None: batch norm after the second convolution only (not on the
    input layer), no fully connected hidden layer, and a logit per image; not with spectral norm."""
    torch.manual_seed(0)
    D = nets.DCGANDiscriminator(width=8, hidden=None, batch_norm=True)
    norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(norms) == 1 and norms[0].num_features == 16
    assert len(linears) == 1 and linears[0].in_features == 16 * 7 * 7 and linears[0].out_features == 1
    assert D(torch.rand(5, 1, 28, 28)).shape == (5,)
    Dc = nets.DCGANDiscriminator(width=8, hidden=None, batch_norm=True, num_classes=10)
    assert Dc(torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 9, 1])).shape == (4,)
    with pytest.raises(ValueError, match="batch_norm or spectral_norm"):
        nets.DCGANDiscriminator(batch_norm=True, spectral_norm=True)


def test_dcgan_init_draws_weights_with_std_002():
    torch.manual_seed(0)
    G = nets.dcgan_init_(nets.DCGANGenerator(latent_dim=16, width=32))
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))])
    scales = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)])
    biases = [m.bias for m in G.modules() if getattr(m, "bias", None) is not None]
    # ~60k weights: the sample std is within 2% of 0.02 with overwhelming probability
    assert weights.mean().abs() < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert scales.mean().item() == pytest.approx(1.0, abs=0.01)
    assert all((b == 0).all() for b in biases)
