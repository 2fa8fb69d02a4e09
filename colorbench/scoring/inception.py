"""The Inception v3 of standard FID, as a plain `torch.nn.Module`.

The network is TensorFlow's ``inception-2015-12-05`` graph, the one the original
FID code (Heusel et al. 2017) feeds, and pytorch-fid, clean-fid, torch-fidelity
and torchmetrics reproduce. It differs from torchvision's ImageNet Inception v3
in its weights and in three places of its structure, patched here as
pytorch-fid patches torchvision's blocks:

- the average pools of the A, C and first E blocks leave the zero padding out
  of the mean (``count_include_pad=False``), as TensorFlow's do;
- the last E block pools its fourth branch with a max pool, not an average.

Its batch norms are frozen (TensorFlow's gammas are all ones; eps 0.001). The
parameters carry pytorch-fid's names (``pt_inception-2015-12-05-6726825d.pth``:
torchvision's ``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.bias``...),
so that file loads as it is, less its classifier (``fc``), which pool features
never use. `colorbench.weights.fid_weights` finds the weights; the resize to
299 and the input scaling are `colorbench.scoring.fid`'s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import inception as tv
from torchvision.ops import FrozenBatchNorm2d


class BasicConv2d(nn.Module):
    """Convolution without bias, frozen batch norm (TensorFlow's eps), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = FrozenBatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_average(x: Tensor) -> Tensor:
    # TensorFlow's average pool divides by the pixels inside the image only
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__(in_channels, pool_features, conv_block=BasicConv2d)

    def forward(self, x: Tensor) -> Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_tf_average(x))], 1)


class FIDInceptionC(tv.InceptionC):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__(in_channels, channels_7x7, conv_block=BasicConv2d)

    def forward(self, x: Tensor) -> Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = conv(branch7x7dbl)
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(_tf_average(x))], 1)


class FIDInceptionE(tv.InceptionE):
    """Both E blocks; ``max_pool``: the second one's pooling branch."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__(in_channels, conv_block=BasicConv2d)
        self.max_pool = max_pool

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _tf_average(x)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """float (B, 3, 299, 299), already scaled to [-1, 1) -> (B, 2048) pool features."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = tv.InceptionB(288, conv_block=BasicConv2d)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = tv.InceptionD(768, conv_block=BasicConv2d)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def torchvision_pool_features(model: tv.Inception3, x: Tensor) -> Tensor:
    """torchvision's Inception v3 up to its average pool (2048-d), its own blocks
    as they are: what CT2's and DDColor's FID code reads (their ``block3``)."""
    x = model.Conv2d_2b_3x3(model.Conv2d_2a_3x3(model.Conv2d_1a_3x3(x)))
    x = model.maxpool1(x)
    x = model.maxpool2(model.Conv2d_4a_3x3(model.Conv2d_3b_1x1(x)))
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(model, name)(x)
    return torch.flatten(model.avgpool(x), 1)
