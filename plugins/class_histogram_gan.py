"""Class-histogram GAN: Wan (2019) §4.1's proposal, a classifier-weighted colour histogram at the bottleneck.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

Wan proposes it and leaves it untried ("The color ambiguity problem was briefly
explored without concrete implementation", §5): this is an implementation of the
proposal on §3.1's model (encdec_gan, whose rows it shares: RGB output, GAN loss
only, batch 64, the budget). The oracle-histogram option is histogram_cgan.

| the paper says | colorbench does | why |
|---|---|---|
| §4.1: "On top of the 'encoder-decoder' styled generator" | encdec_gan's G (RGB, noise at the 1x1 bottleneck) and D (the output alone) | same |
| §4.1: "train an additional classifier on the classes of the object belonged to" | a small CNN C: gray image -> k class probabilities, trained beside G and D by its own Adam on cross-entropy | the classes: colorbench's datasets carry no labels (builtin's crops have none), so they are k = 10 clusters of the training images' ab histograms (k-means++, then Lloyd; 10 as CIFAR-10's classes), each image's class its nearest cluster |
| §4.1: "A weighted color histogram among the classes predicted by the classifier was concatenated with the latent variable in the bottleneck" | the code at the bottleneck: noise (100) and sum_c p(c) h_c (100), where h_c is cluster c's mean histogram (kept in the checkpoint) and p = C's softmax, detached (G does not train C) | same; one rule in training and when colourizing, so G never sees another histogram than it will be given |
| §4.1: "the color histogram in the ab space of the L*a*b* color space" | ab over [-1, 1]^2 (normalised), 10 x 10 cells, times the number of cells (mean 1 per input, as the noise) | the binning is not given: histogram_cgan's |
| §3 scale: 64x64, batch 64, at most 10 epochs of CIFAR-10 | as encdec_gan | same |

Profiles as encdec_gan's; the clusters are computed once before training from
up to 2,048 training images, with their own seeded generator (the run's random
stream is untouched).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.lab import rgb_to_normalized
from colorbench.methods.colorizer import Update
from colorbench.methods.histograms import ab_histogram, kmeans
from colorbench.methods.networks import EncoderDecoder, init_weights
from colorbench.methods.wan2019 import WanGAN, WanGANConfig

CLUSTER_IMAGES = 2048  # training images the classes are found from (evenly spaced)


@dataclass
class ClassHistogramGANConfig(WanGANConfig):
    classes: int = 10  # clusters of the training images' ab histograms (CIFAR-10 has 10 classes)
    hist_bins: int = 10  # cells per ab axis: the histogram has hist_bins^2 dimensions
    classifier_width: int = 32  # C's first width, doubling at each stride-2 block


class Classifier(nn.Module):
    """Gray image -> class logits: stride-2 Conv-BatchNorm-LeakyReLU blocks to 4 x 4,
    global average pooling, a linear layer. Holds each class's mean histogram."""

    def __init__(self, *, size: int, classes: int, hist_dims: int, width: int):
        super().__init__()
        layers, cin = [], 1
        for i in range(max(1, size.bit_length() - 3)):  # down to 4 x 4
            cout = width * min(2**i, 8)
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.logits = nn.Linear(cin, classes)
        self.register_buffer("histograms", torch.full((classes, hist_dims), 1.0 / hist_dims))  # set before training
        init_weights(self)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(L))

    def weighted_histogram(self, L: torch.Tensor) -> torch.Tensor:
        """sum_c p(c | L) h_c: the histogram the classifier predicts."""
        return F.softmax(self(L), dim=1) @ self.histograms


class ClassHistogramGAN(WanGAN):
    name = "class_histogram_gan"
    description = "Wan's §4.1 proposal: encoder-decoder GAN in RGB with a classifier-weighted class colour histogram and noise at the bottleneck"
    paper = (
        'Wan 2019 §4.1: Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative '
        'adversarial networks", HKUST, 2019, §4.1 (colour histogram of predicted classes, on §3.1\'s model)'
    )
    Config = ClassHistogramGANConfig

    def build(self):
        c = self.config
        nets = super().build()
        nets["C"] = Classifier(size=self.size, classes=c.classes, hist_dims=c.hist_bins**2, width=c.classifier_width)
        return nets

    generator = EncoderDecoder  # §4.1: "On top of the 'encoder-decoder' styled generator"

    def code_dim(self):
        return self.config.z_dim + self.config.hist_bins**2  # the noise, then the weighted histogram

    def prepare_training(self, data):
        """The classes: k-means of the training images' ab histograms, their mean histograms kept in C."""
        c = self.config
        picks = torch.linspace(0, len(data) - 1, min(len(data), CLUSTER_IMAGES)).long().unique()
        with torch.random.fork_rng(devices=[]):  # a crop's draw must not move the run's random stream
            rgb = torch.stack([data[int(i)] for i in picks]).to(self.device)
        hists = torch.cat([ab_histogram(rgb_to_normalized(chunk)[1], c.hist_bins) for chunk in rgb.split(256)])
        if len(hists) < c.classes:
            raise ValueError(f"{len(hists)} training images cannot make {c.classes} classes: set classes lower")
        self.nets["C"].histograms.copy_(kmeans(hists.cpu(), c.classes).to(self.device))

    def optimizers(self):
        c, optimizers = self.config, super().optimizers()
        optimizers["C"] = torch.optim.Adam(self.nets["C"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        return optimizers

    def phases(self):
        (phase,) = super().phases()
        phase.updates.insert(0, Update("C", self.classifier_loss))
        return [phase]

    def classifier_loss(self, L, ab, fake):
        """Cross-entropy against each image's class: its histogram's nearest cluster."""
        C = self.nets["C"]
        labels = torch.cdist(ab_histogram(ab, self.config.hist_bins), C.histograms).argmin(1)
        loss = F.cross_entropy(C(L), labels)
        return loss, {"C": loss}

    def code(self, L, ab_hint, noise):
        bins = self.config.hist_bins
        hist = self.nets["C"].weighted_histogram(L).detach() * bins**2
        z = super().code(L, ab_hint, noise)
        return hist if z is None else torch.cat([z, hist], dim=1)


@colorbench.hookimpl
def register_colorizers(register):
    register(ClassHistogramGAN)
