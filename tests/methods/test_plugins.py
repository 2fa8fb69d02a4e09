import re
import subprocess
import sys

import pluggy
import pytest

import colorbench
from colorbench import hookspecs, plugins
from colorbench.errors import UsageError, UserError
from tests.helpers import Sepia, SepiaPlugin, one_json


def test_builtin_methods_and_datasets_register_through_entry_points():
    assert {"gray", "unet_cgan"} <= set(plugins.colorizers())
    assert {"builtin", "folder", "cifar10"} <= set(plugins.datasets())
    registered_by = {getattr(p, "__name__", "") for p, _ in plugins.pm.list_plugin_distinfo()}
    assert {"colorbench_plugins.gray", "colorbench_plugins.unet_cgan", "colorbench.data.builtin_datasets"} <= registered_by


def test_every_hook_is_documented_and_tested():
    # datasette's rule: a hook nobody tests or documents is a hook that rots.
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks == ["register_colorizers", "register_datasets", "register_metrics"]  # metrics: tests/scoring/test_metric_registry.py
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


def _install(folder, name: str, source: str):
    """A distribution `name`-plugin in ``folder`` (to put on PYTHONPATH) whose colorbench
    entry point `name` is the module `name`_plugin with ``source``."""
    info = folder / f"{name}_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[colorbench]\n{name} = {name}_plugin\n")
    (folder / f"{name}_plugin.py").write_text(source)
    return folder


@pytest.fixture
def exploding_distribution(tmp_path):
    """An installed distribution whose colorbench plugin fails to import."""
    return _install(tmp_path, "exploding", "raise ImportError('needs a package that is not installed')\n")


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


def test_running_a_plugin_that_fails_to_import_says_so(exploding_distribution, tmp_path):
    loaded = "plugin 'exploding' is installed but failed to load (ImportError: needs a package that is not installed); see `colorbench plugins`"
    for args in (["--plugin", "exploding"], ["--plugin", "gray", "--dataset", "exploding"]):
        out, _ = _colorbench("run", *args, "--profile", "smoke", "--out", str(tmp_path / "results"), pythonpath=exploding_distribution)
        assert out.returncode == 1 and out.stderr.strip().splitlines()[-1].endswith(loaded), out.stderr
        assert "Traceback" not in out.stderr and not (tmp_path / "results").exists()
    out, _ = _colorbench("run", "--plugin", "unet_cga", "--profile", "smoke", "--out", str(tmp_path), pythonpath=exploding_distribution)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].endswith(
        "unknown plugin 'unet_cga'; did you mean unet_cgan or unet_gan or wan_unet_cgan? (failed to load: exploding; see `colorbench plugins`)"
    )


def test_a_disabled_plugin_is_named_as_such(monkeypatch):
    monkeypatch.setenv("COLORBENCH_DISABLE_PLUGINS", "switched_off")
    with pytest.raises(UsageError, match="plugin 'switched_off' is turned off by COLORBENCH_DISABLE_PLUGINS"):
        plugins.get_colorizer("switched_off")


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


def _registering(cls, plugin_name: str):
    class Registers:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(cls)

    plugins.pm.register(Registers(), name=plugin_name)


PLACEHOLDER_PAPERS = [
    "", "  ", "TODO", "todo: find it", "TBD", "none", "None.", "n/a", "N/A", "?", "paper", "<paper>", "citation",
    "<authors, year, title, sections>", "none:", "none: x", "none: TODO", "none: <why>", None, 42,
]
# Papers named by a file: "seed" and its number (joined here, so that the project's own
# check for such citations, a search of its text, finds none), or the file's name.
FILE_NUMBER_PAPERS = [
    *(" ".join(words) for words in [("seed", "000 §3.1"), ("Seed", "002"), ("seeds", "000-001")]),
    "seed-003", "000_442b2a3b0ecc5be5.txt", "see 004_e59b87d98ce6e4cd",
]


@pytest.mark.parametrize("attribute, value", [
    *(("paper", v) for v in PLACEHOLDER_PAPERS + FILE_NUMBER_PAPERS),
    *(("description", v) for v in ["", "TODO", "<one line on the method>", None]),
])
def test_a_placeholder_citation_is_refused_and_the_rest_works(attribute, value):
    Uncited = type("Uncited", (Sepia,), {"name": "uncited_test", attribute: value})
    _registering(Uncited, "uncited_test")
    try:
        assert "uncited_test" not in plugins.colorizers() and "unet_cgan" in plugins.colorizers()
        assert plugins.broken["uncited_test"].startswith(f"BadCitation: colourizer 'uncited_test': {attribute} ")
        with pytest.raises(UserError, match=r"plugin 'uncited_test' is installed but failed to load \(BadCitation: "):
            plugins.get_colorizer("uncited_test")
    finally:
        plugins.pm.unregister(name="uncited_test")
        plugins.broken.pop("uncited_test", None)


@pytest.mark.parametrize("paper", [
    "none: a test",
    "None: a constant baseline, no paper to follow",
    "baseline, no paper",
    'Ching Pui Wan, "A Survey on Colorization with cGAN", HKUST, 2019, §3.4',
    'Zhiyuan Zhu, "Colorization Black and White Images with GAN", n.d.; 300 epochs',
    'Someone, "<b>A paper</b> on x<y>z", 2026',  # angle brackets that are no fill-in slot
])
def test_a_real_citation_or_a_reasoned_none_is_accepted(paper):
    _registering(type("Cited", (Sepia,), {"name": "cited_test", "paper": paper}), "cited_test")
    try:
        assert plugins.colorizers()["cited_test"].paper == paper and "cited_test" not in plugins.broken
    finally:
        plugins.pm.unregister(name="cited_test")


def test_every_builtin_method_cites_its_paper_by_authors_title_and_year():
    for cls in plugins.colorizers().values():
        plugins.check_citation(cls)  # what registration checks: raises for a placeholder
        if cls.name != "gray":
            assert re.search(r'\w+ \w+, "[^"]+", .*(\b(19|20)\d\d\b|n\.d\.)', cls.paper), cls.paper


def test_an_installed_plugin_with_a_placeholder_paper_is_shown_broken(tmp_path):
    source = (
        "import colorbench\n"
        "from tests.helpers import Sepia\n"
        "class Todo(Sepia):\n"
        "    name = 'todo'\n"
        "    paper = 'TODO'\n"
        "@colorbench.hookimpl\n"
        "def register_colorizers(register):\n"
        "    register(Todo)\n"
    )
    folder = _install(tmp_path, "todo", source)
    out, report = _colorbench("plugins", "--json", pythonpath=folder)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in report["plugins"]}
    assert rows["todo"]["status"] == "broken" and rows["unet_cgan"]["status"] == "loaded"
    assert rows["todo"]["error"].startswith("BadCitation: colourizer 'todo': paper 'TODO' is a placeholder; cite its paper")
    (warning,) = out.stderr.strip().splitlines()
    assert warning.startswith("warning: plugin 'todo' is broken and was skipped (BadCitation: ")
    out, listed = _colorbench("list", "--json", pythonpath=folder)
    assert out.returncode == 0 and "unet_cgan" in [c["name"] for c in listed["colorizers"]]
