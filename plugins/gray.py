"""The zero-chroma baseline: the input's luminance with a = b = 0.

Every board shows it, because GAN colourizers often score below it on PSNR while
looking far better; a method is only interesting next to this row.

| the paper says | colorbench does | why |
|---|---|---|
| - (no paper) | ab = 0 everywhere: the gray input, as the core joins it with L | the floor every paper's method is read against |
"""

import torch

import colorbench
from colorbench.methods.colorizer import Colorizer


class Gray(Colorizer):
    name = "gray"
    description = "zero-chroma baseline: the grayscale input itself (a = b = 0)"
    paper = "baseline, no paper"

    def predict(self, L: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        return L.new_zeros(L.shape[0], 2, *L.shape[2:])


@colorbench.hookimpl
def register_colorizers(register):
    register(Gray)
