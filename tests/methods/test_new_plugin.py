"""`colorbench new-plugin` writes a package that installs, passes its own test and runs."""

import json
import subprocess
import sys

import pytest

from tests.helpers import one_json, pip_install


def test_new_plugin_package_installs_passes_its_test_and_runs(cli, tmp_path):
    result = cli("new-plugin", "tiny_l1", "--into", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    package = tmp_path / "colorbench-tiny-l1"
    assert one_json(result)["package"] == str(package)

    # install it (as `pip install` would, into a folder of its own) and put it on the path
    env = pip_install(package, tmp_path / "site")

    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    listed = run("-m", "colorbench", "list", "--json")
    assert "tiny_l1" in [c["name"] for c in json.loads(listed.stdout)["colorizers"]], listed.stderr

    own_test = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"))
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    assert "1 passed" in own_test.stdout

    scored = run("-m", "colorbench", "run", "--plugin", "tiny_l1", "--profile", "smoke", "--out", str(tmp_path / "results"), "--json")
    assert scored.returncode == 0, scored.stderr
    first = json.loads(scored.stdout)["results"][0]
    assert first["plugin"]["name"] == "tiny_l1" and first["plugin"]["distribution"]["name"] == "colorbench-tiny-l1"


@pytest.mark.parametrize(
    "name, message",
    [("My-Method", "must be lower-case"), ("class", "must be lower-case"), ("unet_cgan", "already registered")],
)
def test_bad_plugin_names(cli, tmp_path, name, message):
    result = cli("new-plugin", name, "--into", tmp_path)
    assert result.exit_code == 2 and message in result.stderr
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(cli, tmp_path):
    (tmp_path / "colorbench-mine").mkdir()
    (tmp_path / "colorbench-mine" / "keep.txt").write_text("mine")
    result = cli("new-plugin", "mine", "--into", tmp_path)
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert (tmp_path / "colorbench-mine" / "keep.txt").read_text() == "mine"
