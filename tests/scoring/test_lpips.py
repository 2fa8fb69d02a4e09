"""LPIPS v0.1 (alex): calibrated against the authors' example, loaded strictly, batched."""

from pathlib import Path

import numpy as np
import pytest
import torch

from colorbench.scoring import lpips_metric
from colorbench.errors import UserError

CALIBRATION = Path(__file__).resolve().parents[3] / "shared" / "calibration" / "lpips"


def _read(name: str) -> torch.Tensor:
    from PIL import Image

    return torch.from_numpy(np.array(Image.open(CALIBRATION / name).convert("RGB"))).permute(2, 0, 1)[None]


def test_calibration_against_the_authors_example():
    if not CALIBRATION.is_dir():
        pytest.skip(f"{CALIBRATION} is absent: the LPIPS calibration images live beside the project, not in it")
    ref, p0, p1 = (_read(f"ex_{n}.png") for n in ("ref", "p0", "p1"))
    d = lpips_metric.lpips(torch.cat([ref, ref]), torch.cat([p0, p1]))
    assert round(float(d[0]), 3) == 0.722
    assert round(float(d[1]), 3) == 0.138
    # batched features + our distance == the package's own forward pass
    net = lpips_metric.network()
    theirs = net(ref.float() / 127.5 - 1, p1.float() / 127.5 - 1).item()
    assert abs(theirs - float(d[1])) < 1e-6


@pytest.fixture(scope="module")
def backbone():
    from colorbench.weights import backbones as weights

    return weights.features_state_dict("alexnet")


def test_a_missing_backbone_weight_is_an_error(backbone):
    incomplete = {k: v for k, v in backbone.items() if k != "3.weight"}
    with pytest.raises(UserError, match="missing.*slice2.3.weight"):
        lpips_metric.build(incomplete)


def test_an_unexpected_weight_is_an_error(backbone):
    with pytest.raises(UserError, match="unexpected.*12.weight"):
        lpips_metric.build({**backbone, "12.weight": torch.zeros(1)})


@pytest.mark.filterwarnings("ignore:.*(pretrained|weight enum).*:UserWarning")
def test_every_weight_is_placed(backbone):
    import lpips

    model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    state = lpips_metric.full_state_dict(model, backbone)
    assert set(state) == set(model.state_dict())
    assert torch.equal(state["net.slice2.3.weight"], backbone["3.weight"])


def test_identical_images_score_zero():
    x = torch.randint(0, 256, (3, 3, 40, 33), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(lpips_metric.lpips(x, x), torch.zeros(3, dtype=torch.float64))
    y = x.clone()
    y[:, 0] = 255 - y[:, 0]
    assert (lpips_metric.lpips(x, y) > 0.01).all()


def test_batched_equals_one_by_one():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    batched = lpips_metric.lpips(x, y)
    single = torch.cat([lpips_metric.lpips(x[i : i + 1], y[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


def test_mean_pairwise_is_the_mean_over_pairs():
    g = torch.Generator().manual_seed(2)
    s = torch.randint(0, 256, (3, 2, 3, 32, 32), dtype=torch.uint8, generator=g)
    pairs = [lpips_metric.lpips(s[i], s[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    torch.testing.assert_close(lpips_metric.mean_pairwise(s), sum(pairs) / 3, rtol=1e-5, atol=1e-6)


def test_too_small_images_are_refused():
    x = torch.zeros(1, 3, 30, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match="31x31"):
        lpips_metric.lpips(x, x)


def test_the_network_is_built_once():
    assert lpips_metric.network("cpu") is lpips_metric.network(torch.device("cpu"))
