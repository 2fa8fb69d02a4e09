"""A newcomer's method that only loads published weights, as one module in an
installable plugin package: `colorbench run --plugin it` downloads its weights
(from a real HTTP server on localhost), loads and scores them."""

import hashlib
import json
import os
import subprocess
import sys
from string import Template

import torch
from safetensors.torch import save as safetensors_bytes

from tests.cli.test_published_weights import private_cache
from tests.helpers import one_module_package, photo_crops, pip_install, serve_folder

MODULE = Template('''\
"""Colours from published weights: a 1x1 convolution from L to ab. No training code."""

import torch

import colorbench
from colorbench.methods.colorizer import Colorizer
from colorbench.weights.published import PublishedWeights


class Tinted(Colorizer):
    name = "tinted"
    description = "a 1x1 convolution from L to ab, from published weights"
    paper = "none: an example of a method with published weights"
    published_weights = {
        "v1": PublishedWeights(url="$url", sha256="$sha256", size=32, licence="CC0-1.0", description="a warm tint"),
    }

    def build(self):
        return {"net": torch.nn.Conv2d(1, 2, 1)}

    def predict(self, L, noise):
        return torch.tanh(self.nets["net"](L))


@colorbench.hookimpl
def register_colorizers(register):
    register(Tinted)
''')



def test_a_plugin_package_whose_one_module_only_loads_published_weights_runs(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    weights = {"net.weight": torch.tensor([0.3, -0.2]).view(2, 1, 1, 1), "net.bias": torch.tensor([0.1, 0.05])}
    (served / "tinted.safetensors").write_bytes(data := safetensors_bytes(weights))
    folder = photo_crops(tmp_path / "photos")
    env = {**os.environ, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
    private_cache(tmp_path / "cache", env.__setitem__)

    with serve_folder(served) as (url, asked):
        sha256 = hashlib.sha256(data).hexdigest()
        source = MODULE.substitute(url=f"{url}/tinted.safetensors", sha256=sha256)
        env = pip_install(one_module_package(tmp_path / "colorbench-tinted", "colorbench_tinted", source), tmp_path / "site", env)

        def colorbench(*args):
            return subprocess.run([sys.executable, "-m", "colorbench", *map(str, args)], capture_output=True, text=True, env=env, cwd=tmp_path)

        listed = colorbench("list", "--json")
        assert {"name": "tinted", "published_weights": ["v1"]}.items() <= next(
            c for c in json.loads(listed.stdout)["colorizers"] if c["name"] == "tinted"
        ).items(), listed.stderr

        scored = colorbench("run", "--plugin", "tinted", "--dataset", f"folder:{folder}", "--out", tmp_path / "results", "--json")
        assert scored.returncode == 0, scored.stderr
        method, gray = json.loads(scored.stdout)["results"]
        assert asked == ["/tinted.safetensors"]  # downloaded, once
        assert (tmp_path / "cache" / "colorbench" / "weights" / "published" / f"{sha256}.safetensors").read_bytes() == data

    assert (method["plugin"]["name"], gray["plugin"]["name"]) == ("tinted", "gray")
    assert method["plugin"]["distribution"]["name"] == "colorbench-tinted"
    loaded = method["training"]["loaded"]
    assert (loaded["from"], loaded["name"], loaded["url"], loaded["sha256"]) == ("published", "v1", f"{url}/tinted.safetensors", sha256)
    assert method["training"]["steps"] == 0 and method["protocol"]["dataset"]["scored"] == 3
    assert method["metrics"]["colourfulness"] > gray["metrics"]["colourfulness"]  # its tint, not the gray input
