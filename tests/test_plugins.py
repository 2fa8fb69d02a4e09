import subprocess
import sys

import pluggy
import pytest

import colorbench
from colorbench import hookspecs, plugins
from colorbench.errors import UsageError, UserError
from tests.helpers import SepiaPlugin, one_json


def test_builtin_methods_and_datasets_register_through_entry_points():
    assert {"gray", "unet_cgan"} <= set(plugins.colorizers())
    assert {"builtin", "folder", "cifar10"} <= set(plugins.datasets())
    registered_by = {getattr(p, "__name__", "") for p, _ in plugins.pm.list_plugin_distinfo()}
    assert {"colorbench_plugins.gray", "colorbench_plugins.unet_cgan", "colorbench.datasets"} <= registered_by


def test_every_hook_is_documented_and_tested():
    # datasette's rule: a hook nobody tests or documents is a hook that rots.
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks == ["register_colorizers", "register_datasets"]
    for name in hooks:
        assert getattr(hookspecs, name).__doc__.strip()


def test_importing_plugins_builds_no_model():
    # `colorbench list` imports every plugin; building networks there would make it slow.
    code = (
        "import torch.nn as nn\n"
        "built = []\n"
        "orig = nn.Module.__init__\n"
        "def spy(self, *a, **k): built.append(type(self).__name__); orig(self, *a, **k)\n"
        "nn.Module.__init__ = spy\n"
        "from colorbench import plugins\n"
        "plugins.colorizers(); plugins.datasets()\n"
        "print(built)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_throwaway_plugin_appears_in_list_and_runs(cli, sepia_plugin, tmp_path):
    listed = one_json(cli("list", "--json"))
    assert "sepia_test" in [c["name"] for c in listed["colorizers"]]
    result = cli("run", "--plugin", "sepia_test", "--profile", "smoke", "--out", tmp_path, "--no-baseline", "--json")
    assert result.exit_code == 0, result.output
    (run,) = one_json(result)["results"]
    assert run["plugin"]["name"] == "sepia_test"
    assert run["checkpoint"] is None  # steps = 0: nothing trained, nothing saved


def test_misspelled_hook_fails_loudly():
    class Typo:
        @colorbench.hookimpl
        def register_colourizers(self, register):  # not a hook
            pass

    plugins.pm.register(Typo(), name="typo")
    try:
        with pytest.raises(pluggy.PluginValidationError):
            plugins.pm.check_pending()
    finally:
        plugins.pm.unregister(name="typo")


def test_two_plugins_with_one_name_is_an_error(sepia_plugin):
    plugins.pm.register(SepiaPlugin(), name="sepia_again")
    try:
        with pytest.raises(UserError, match="two plugins register the colourizer 'sepia_test'"):
            plugins.colorizers()
    finally:
        plugins.pm.unregister(name="sepia_again")


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UsageError, match=r"unknown plugin 'unet_cga'; did you mean unet_cgan\b"):
        plugins.get_colorizer("unet_cga")
    with pytest.raises(UsageError, match="unknown dataset 'biltin'; did you mean builtin"):
        plugins.get_dataset("biltin")


def test_distribution_of_a_builtin_method():
    assert plugins.distribution_of(plugins.get_colorizer("unet_cgan"))["name"] == "colorbench"


def _colorbench(*args, env_extra=None, pythonpath=None):
    import json
    import os

    env = {**os.environ, **(env_extra or {})}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "colorbench", *args], capture_output=True, text=True, env=env)
    return out, (json.loads(out.stdout) if out.stdout.strip().startswith("{") else None)


@pytest.fixture
def exploding_distribution(tmp_path):
    """An installed distribution whose colorbench plugin fails to import."""
    info = tmp_path / "exploding_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exploding-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[colorbench]\nexploding = exploding_plugin\n")
    (tmp_path / "exploding_plugin.py").write_text("raise ImportError('needs a package that is not installed')\n")
    return tmp_path


def test_a_plugin_that_fails_to_import_is_shown_broken_and_the_rest_works(exploding_distribution):
    out, report = _colorbench("plugins", "--json", pythonpath=exploding_distribution)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in report["plugins"]}
    assert rows["exploding"]["status"] == "broken"
    assert "needs a package that is not installed" in rows["exploding"]["error"]
    assert rows["exploding"]["distribution"] == "exploding-plugin"
    assert rows["unet_cgan"]["status"] == "loaded" and rows["unet_cgan"]["hooks"] == ["register_colorizers"]
    out, listed = _colorbench("list", "--json", pythonpath=exploding_distribution)
    assert out.returncode == 0 and "unet_cgan" in [c["name"] for c in listed["colorizers"]]
    assert "plugin 'exploding' is broken" in out.stderr


def test_plugins_can_be_disabled_by_environment_variable():
    out, listed = _colorbench("list", "--json", env_extra={"COLORBENCH_DISABLE_PLUGINS": "unet_cgan, gray"})
    assert out.returncode == 0, out.stderr
    names = [c["name"] for c in listed["colorizers"]]
    assert "unet_cgan" not in names and "gray" not in names
    out, report = _colorbench("plugins", "--json", env_extra={"COLORBENCH_DISABLE_PLUGINS": "unet_cgan"})
    assert {r["name"]: r["status"] for r in report["plugins"]}["unet_cgan"] == "disabled"


def test_a_plugin_whose_hook_raises_is_skipped(cli):
    class Raises:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            raise RuntimeError("bug in a third-party plugin")

    plugins.pm.register(Raises(), name="raises")
    try:
        assert "unet_cgan" in plugins.colorizers()
        assert "bug in a third-party plugin" in plugins.broken["raises"]
    finally:
        plugins.pm.unregister(name="raises")
        plugins.broken.pop("raises", None)


@pytest.mark.parametrize("bad", ["ev[/x]il", "a/b", "Upper", "with space", "x" * 65, "", "ünï", "`tick`", "1st"])
def test_a_method_with_an_unsafe_name_is_refused_and_the_rest_works(cli, bad):
    """A name becomes part of file names, terminal markup and markdown: only
    lower-case letters, digits and _ are registered."""
    from tests.helpers import Sepia

    Evil = type("Evil", (Sepia,), {"name": bad})

    class Registers:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(Evil)

    plugins.pm.register(Registers(), name="evil_test")
    try:
        assert bad not in plugins.colorizers() and "unet_cgan" in plugins.colorizers()
        assert "is not lower-case letters" in plugins.broken["evil_test"]
        result = cli("run", "--plugin", bad, "--profile", "smoke")
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        plugins.pm.unregister(name="evil_test")
        plugins.broken.pop("evil_test", None)
