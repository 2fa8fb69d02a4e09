"""Speed: the fields a result carries, and the benchmarked weights left untouched."""

import pytest
import torch

from colorbench.scoring import speed
from colorbench.methods.colorizer import Colorizer, TrainConfig
from colorbench.data.datasets import Dataset, Fixed, RandomCrops


class _Tiny(Colorizer):
    """A 1x1 convolution L -> ab, trained by SGD: enough to time a training step."""

    name = "tiny_test"
    description = "one convolution"
    paper = "none: a test"

    def build(self):
        return {"conv": torch.nn.Conv2d(1, 2, 3, padding=1)}

    def optimizers(self):
        return {"sgd": torch.optim.SGD(self.nets.parameters(), lr=0.1)}

    def loss(self, L, ab):
        return torch.nn.functional.l1_loss(self.nets["conv"](L), ab)

    def predict(self, L, noise):
        return self.nets["conv"](L).tanh()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 40, 40, generator=g) for _ in range(3)]
    test = Fixed([(f"t{i}", torch.rand(3, 32, 32, generator=g)) for i in range(3)])
    return Dataset("test", 32, RandomCrops(images, 32, per_image=4), test)


def test_speed_fields_and_weights_untouched(data):
    colorizer = _Tiny(TrainConfig(steps=5, batch_size=4), size=32)
    before = {k: v.clone() for k, v in colorizer.nets.state_dict().items()}
    s = speed.measure(colorizer, data, batch_size=8, budget_s=0.05)
    for k, v in colorizer.nets.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed: the benchmarked model was trained further"
    assert s["device"] == "cpu" and s["device_name"]
    assert s["dtype"] == "float32" and s["torch"] == torch.__version__
    assert s["inference"]["batch_size"] == 8 and s["inference"]["images_per_s"] > 0
    assert s["inference"]["timed_iterations"] >= 2
    assert 0 < s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] and s["latency_ms"]["batch_size"] == 1
    assert s["training"]["applicable"] and s["training"]["images_per_s"] > 0 and s["training"]["batch_size"] == 4
    assert "deep copy" in s["training"]["how"]
    assert s["parameters"] == 1 * 2 * 9 + 2
    assert s["flops_per_image"] == 2 * (1 * 2 * 9) * 32 * 32  # 2 per multiply-accumulate of the conv
    assert s["peak_memory"]["bytes"] > 0 and "RSS" in s["peak_memory"]["kind"]


def test_untrainable_method_has_no_training_speed(data):
    from colorbench_plugins.gray import Gray

    s = speed.measure(Gray(size=32), data, batch_size=4, budget_s=0.02)
    assert s["training"] == {"applicable": False, "reason": "nothing to train"}
    assert s["flops_per_image"] == 0 and s["parameters"] == 0
    assert s["dtype"] == "float32"


def test_timed_respects_warmup_and_budget():
    calls = []
    times = speed.timed(lambda: calls.append(1), torch.device("cpu"), warmup=3, iterations=7, min_iterations=2, budget_s=10)
    assert len(calls) == 10 and len(times) == 7
    times = speed.timed(lambda: None, torch.device("cpu"), warmup=0, iterations=1000, min_iterations=4, budget_s=0)
    assert len(times) == 4
