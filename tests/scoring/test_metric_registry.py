"""The metric registry: declarations checked, built-in metrics registered like a
plugin's, a broken metric plugin isolated, every metric listed."""

import dataclasses

import pytest

import colorbench
from colorbench import plugins
from colorbench.errors import UserError
from colorbench.scoring import builtin_metrics
from colorbench.scoring.registry import SET, BadMetric, Metric, check
from tests.helpers import one_json

BUILTIN = ["psnr", "ssim", "lpips", "colourfulness", "colourfulness_gt", "delta_colourfulness", "mean_abs_delta_colourfulness", "fid", "kid", "fid_tv"]


class _Count:
    def __init__(self, device):
        self.n = 0

    def update(self, gt_u8, pred_u8):
        self.n += len(gt_u8)

    def finish(self):
        return float(self.n)


COUNT = Metric(
    name="image_count_test", version="1", description="how many images were scored (a test metric)",
    higher_is_better=None, colour_space="any", kind=SET, valid_range=(0.0, 1e9), title="n images", digits=0,
    accumulator=_Count,
)


class MetricPlugin:
    def __init__(self, *metrics, fail: bool = False):
        self.metrics, self.fail = metrics, fail

    @colorbench.hookimpl
    def register_metrics(self, register):
        for metric in self.metrics:
            register(metric)
        if self.fail:
            raise RuntimeError("this plugin breaks after registering")


@pytest.fixture
def plugin():
    registered = []

    def register(obj, name):
        plugins.pm.register(obj, name=name)
        registered.append(name)

    yield register
    for name in registered:
        plugins.pm.unregister(name=name)
        plugins.broken.pop(name, None)


def test_builtin_metrics_register_through_their_entry_point_first_and_in_order():
    assert list(plugins.metrics())[: len(BUILTIN)] == BUILTIN
    registered_by = {getattr(p, "__name__", "") for p, _ in plugins.pm.list_plugin_distinfo()}
    assert "colorbench.scoring.builtin_metrics" in registered_by
    for metric in builtin_metrics.METRICS:
        check(metric)


def test_a_plugins_metric_comes_after_the_builtin_ones(plugin):
    plugin(MetricPlugin(COUNT), "count_test")
    names = list(plugins.metrics())
    assert names[: len(BUILTIN)] == BUILTIN and names[-1] == "image_count_test"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kind": "per_pixel"}, "kind must be"),
        ({"kind": "per_image"}, "needs per_image"),
        ({"accumulator": None}, "accumulator or from_means"),
        ({"valid_range": (1.0, 0.0)}, "valid_range"),
        ({"valid_range": (0.0, float("inf"))}, "valid_range"),
        ({"digits": 40}, "digits"),
        ({"title": "two\nlines"}, "title"),
        ({"version": ""}, "version"),
        ({"description": " "}, "description"),
        ({"higher_is_better": "yes"}, "higher_is_better"),
        ({"from_means": lambda m: 0.0}, "one of them"),
    ],
)
def test_a_declaration_that_cannot_be_scored_or_shown_is_refused(change, message):
    with pytest.raises(BadMetric, match=message):
        check(dataclasses.replace(COUNT, **change))


def test_a_broken_metric_plugin_is_isolated_and_reported(plugin, capsys):
    """One that raises while registering, or registers what is not a metric: its
    metrics are skipped, everything else works, and `colorbench plugins` names it."""
    plugin(MetricPlugin(COUNT, fail=True), "breaks_test")
    plugin(MetricPlugin(dataclasses.replace(COUNT, name="other_test", title="other", kind="per_pixel")), "bad_metric_test")
    plugin(MetricPlugin("not a metric"), "not_a_metric_test")
    found = plugins.metrics()
    assert list(found) == BUILTIN  # all or nothing: the one that broke after registering added none
    assert {"breaks_test", "bad_metric_test", "not_a_metric_test"} <= set(plugins.broken)
    assert "kind must be" in plugins.broken["bad_metric_test"]
    assert "this plugin breaks" in capsys.readouterr().err


def test_two_metrics_with_one_column_title_are_refused(plugin):
    plugin(MetricPlugin(dataclasses.replace(COUNT, title="PSNR")), "same_title_test")
    with pytest.raises(UserError, match="column title 'PSNR'"):
        plugins.metrics()


def test_list_shows_every_metric(cli, plugin):
    plugin(MetricPlugin(COUNT), "count_test")
    listed = one_json(cli("list", "--json"))["metrics"]
    assert [m["name"] for m in listed] == BUILTIN + ["image_count_test"]
    lpips = next(m for m in listed if m["name"] == "lpips")
    assert lpips["kind"] == "per_image" and "AlexNet" in lpips["needs"] and lpips["higher_is_better"] is False
    assert "n images" in cli("list").stdout  # its column's title
