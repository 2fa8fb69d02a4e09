"""A perceptual (feature) loss on ImageNet VGG16 activations, shared by the methods
that train with one (sagan's NoGAN pre-training after Narkhede et al. (n.d.),
perceptual_cnn after Vangapelli and Kuppam (n.d.)).

The VGG is a frozen loss network, not part of the method: it is built in
`prepare_training`, so checkpoints and colourizing never need its weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorbench.weights import backbones as weights

# torchvision's vgg16().features: the ReLU after each block's last convolution
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen ImageNet VGG16 returning activations at the named layers, for RGB in [0, 1]."""

    def __init__(self, layers: tuple[str, ...]):
        super().__init__()
        from torchvision.models import vgg16

        with torch.device("meta"):  # no memory for the unused classifier (120 M weights)
            skeleton = vgg16().features
        features = weights.load_features(skeleton.to_empty(device="cpu"), "vgg16")  # every weight loaded, strictly
        self.layers = {VGG16_LAYERS[name]: name for name in layers}
        self.features = features[: max(self.layers) + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x, found = (rgb - self.mean) / self.std, {}  # inputs prepared as VGG expects
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layers:
                found[self.layers[i]] = x
        return found

    def train(self, mode: bool = True):
        return super().train(False)  # a loss network never leaves eval mode


class PerceptualLoss(nn.Module):
    """Weighted sum over layers of the mean squared difference of VGG16 activations."""

    def __init__(self, layer_weights: dict[str, float]):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.vgg = VGGFeatures(tuple(self.layer_weights))

    def forward(self, rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
        pred, true = self.vgg(rgb_pred), self.vgg(rgb_true)
        return sum(w * F.mse_loss(pred[name], true[name]) for name, w in self.layer_weights.items())
