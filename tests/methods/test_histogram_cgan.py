import numpy as np
import pytest
import torch

from colorbench.data import datasets
from colorbench.training import checkpoints, trainer as training
from colorbench.errors import UsageError
from colorbench.scoring.evaluate import evaluate
from colorbench.lab import rgb_to_normalized
from colorbench.scoring.metrics import to_uint8
from colorbench.methods.networks import PatchDiscriminator, UNet
from colorbench.plugins import get_colorizer
from colorbench.methods.histograms import ab_histogram
from tests.helpers import write_png

HistogramCGAN = get_colorizer("histogram_cgan")


def _tiny(size=16, **overrides):
    torch.manual_seed(0)
    return HistogramCGAN.from_profile("smoke", size=size, ngf=8, ndf=8, **overrides)


def test_histogram_of_a_constant_field_is_one_bin():
    ab = torch.empty(2, 2, 5, 7)
    ab[0, 0], ab[0, 1] = 0.15, -0.55  # a cell floor(1.15 / 2 * 10) = 5, b cell floor(0.45 / 2 * 10) = 2
    ab[1, 0], ab[1, 1] = -1.0, 1.0  # the corners of the square: cells 0 and 9 (the edge is inside)
    hist = ab_histogram(ab, bins=10)
    assert hist.shape == (2, 100)
    expected = torch.zeros(2, 100)
    expected[0, 5 * 10 + 2] = expected[1, 0 * 10 + 9] = 1
    assert torch.equal(hist, expected)


def test_histogram_counts_fractions_and_sums_to_one():
    ab = torch.zeros(1, 2, 4, 4)
    ab[0, :, :1] = torch.tensor([0.5, 0.5]).view(2, 1, 1)  # a quarter of the pixels in cell (7, 7)
    hist = ab_histogram(ab, bins=10)
    assert hist[0, 7 * 10 + 7] == 0.25 and hist[0, 5 * 10 + 5] == 0.75
    random = ab_histogram(torch.randn(3, 2, 9, 9), bins=6)  # values off the square land in the edge cells
    assert random.shape == (3, 36) and torch.allclose(random.sum(1), torch.ones(3)) and (random >= 0).all()


def test_generator_takes_the_histogram_at_its_bottleneck_and_D_sees_L_and_ab():
    model = _tiny()
    assert isinstance(model.nets["G"], UNet) and model.nets["G"].z_dim == model.config.hist_bins**2 == 100
    D = model.nets["D"]
    assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == 3
    assert (model.config.l1_weight, model.config.lr, model.config.beta1, model.config.beta2) == (100.0, 2e-4, 0.5, 0.999)
    assert model.hint and not model.stochastic
    with pytest.raises(UsageError, match="no bottleneck noise"):  # a setting: the user's mistake
        _tiny(z_dim=5)


def test_colours_follow_the_reference():
    # Taught (L1 alone, a few steps) to paint random L with one of two flat colours
    # that only the histogram tells apart, G paints the same L as each reference says.
    model = _tiny(lr=1e-3)
    model.nets.train()
    trainer, l1_phase = training.Trainer(model), model.l1_phase("L1", 30)
    colours = torch.tensor([[0.6, 0.4], [0.1, -0.7]])  # red-ish, blue-ish
    for _ in range(30):
        ab = colours[torch.arange(8) % 2].view(8, 2, 1, 1).expand(8, 2, 16, 16)
        trainer.step(l1_phase, torch.rand(8, 1, 16, 16) * 2 - 1, ab)
    L = torch.rand(2, 1, 16, 16) * 2 - 1
    refs = [c.view(1, 2, 1, 1).expand(1, 2, 8, 8) for c in colours]  # one reference for the whole batch
    red, blue = (model.colorize(L, reference=r)[0] for r in refs)
    assert red.shape == blue.shape == (2, 2, 16, 16)
    means = red.mean((0, 2, 3)), blue.mean((0, 2, 3))
    for mean, own, other in [(means[0], *colours), (means[1], *colours.flip(0))]:
        assert (mean - own).norm() < (mean - other).norm(), (mean, own)
    gap = colours[0] - colours[1]  # how far G's colours moved from one reference's to the other's
    assert (means[0] - means[1]) @ gap / gap.norm() ** 2 > 0.25
    assert torch.equal(red, model.colorize(L, reference=refs[0], seed=3)[0])  # deterministic for a reference
    with pytest.raises(ValueError, match="needs a reference"):
        model.colorize(L)


def test_evaluation_hands_it_the_ground_truth():
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.random((3, 16, 16), dtype=np.float32)) for _ in range(3)]
    model = _tiny()
    seen = []
    code = model.code
    model.code = lambda L, ab_hint, noise: seen.append(ab_hint) or code(L, ab_hint, noise)
    scored = evaluate(model, datasets.Fixed([(f"img{i}", im) for i, im in enumerate(images)]), n_samples=1)
    assert scored["scored"] == 3 and np.isfinite(scored["metrics"]["psnr"])
    (reference,) = seen
    _, ab_truth = rgb_to_normalized(to_uint8(torch.stack(images)))  # the 8-bit truth's ab
    assert torch.allclose(reference, ab_truth)


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory):
    """Checkpoints of freshly built (untrained) histogram_cgan and unet_cgan models."""
    out = tmp_path_factory.mktemp("ckpt")
    hist, _ = checkpoints.save(_tiny(size=32), out / "hist")
    torch.manual_seed(0)
    unet, _ = checkpoints.save(get_colorizer("unet_cgan").from_profile("smoke", size=32, ngf=8, ndf=8), out / "unet")
    return hist, unet


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(1)
    source = write_png(tmp_path / "in" / "a.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    reds = np.zeros((20, 30, 3), np.uint8)
    reds[..., 0] = 200
    return source, write_png(tmp_path / "ref.png", reds)


def test_colorize_with_a_reference_writes_the_image(cli, checkpoint_files, pictures, tmp_path):
    source, reference = pictures
    result = cli("colorize", "--plugin", "histogram_cgan", "--checkpoint", checkpoint_files[0], source,
                 "--reference", reference, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    from PIL import Image

    assert np.asarray(Image.open(tmp_path / "out" / "a.png")).shape == (40, 50, 3)


def test_colorize_without_a_reference_is_a_one_line_usage_error(cli, checkpoint_files, pictures, tmp_path):
    source, _ = pictures
    result = cli("colorize", "--checkpoint", checkpoint_files[0], source, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "histogram_cgan needs --reference IMG: " in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_reference_for_a_method_without_a_hint_is_a_usage_error(cli, checkpoint_files, pictures, tmp_path):
    source, reference = pictures
    result = cli("colorize", "--plugin", "unet_cgan", "--checkpoint", checkpoint_files[1], source,
                 "--reference", reference, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "unet_cgan takes no --reference" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_missing_reference_file_is_named(cli, checkpoint_files, pictures, tmp_path):
    source, _ = pictures
    result = cli("colorize", "--checkpoint", checkpoint_files[0], source, "--reference", tmp_path / "nope.png", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"--reference {tmp_path / 'nope.png'}: no such file" in result.stderr
    assert not (tmp_path / "out").exists()
