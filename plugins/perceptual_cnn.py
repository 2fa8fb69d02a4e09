"""Perceptual-loss CNN: Santosh Vangapelli, Satya Kuppam, "Colour Image Synthesis using
CNNs" (no year given in the text).

A fully convolutional "image transformation network" from L to ab, trained against a
perceptual loss computed on a frozen ImageNet VGG16 (the loss network).

| the paper says (section, short quote) | colorbench does | why |
|---|---|---|
| §1: "We developed two different networks" (one trained on a VGG16 perceptual loss, one whose activations are augmented with Inception-ResNet-v2's) | the VGG16 one | deliberate choice: the perceptual loss is what the paper offers as new ("colorization with *perceptual loss* has not been done before", §1); the Inception-ResNet-v2 activations are Baldassarre et al.'s idea (§2) |
| §3: "F : X_L -> (X_a, X_b)", then "combine the a,b components with L component" | L in, ab out, joined with the input's L | same |
| §3.4: "we normalize each pixel value to [0, 1]" (the L fed to the network) | the network maps colorbench's L in [-1, 1] to [0, 1] before its first convolution | same |
| §3.2: "We use 10 convolutional layers with 3×3 kernels. Padding is used to preserve the layer's input size" | 10 encoder convolutions, 3x3, padding 1 | same |
| §3.2: "stride of 2 is applied on 4th and 6th layers" | stride 2 on the 4th and 6th encoder convolutions: the bottleneck is S/4 | same |
| §3.2: the encoder "outputs a H/8 × W/8 × 512 feature representation" and the decoder "takes this H/8 × W/8 × 256 volume" | bottleneck S/4 with 512 channels; the decoder's first convolution makes 256 | paper inconsistent: two stride-2 layers give H/4, not H/8, and the bottleneck cannot be both 512 and 256 deep; we keep the layer-by-layer description (10 layers, strides at the 4th and 6th), the 512-channel encoder output, and 256 channels from the decoder's first layer |
| §3.2 widths other than the encoder's 512; Figure 3 (its picture is not in the text) | encoder 64, 64, 64, 128, 128, 256, 256, 256, 512, 512 | paper silent: widths double at each stride, and once more to reach the 512 it gives |
| §3.2: "series of convolutional layers", "nearest neighbor approach based upsampling ... twice the input's"; Figure 2: depth "gradually decreases to 2" | 3x3 convolutions of 256, (2x nearest) 128, 64, (2x nearest) 32, then 2 (ab); one upsampling per stride | same for the upsampling; paper silent on the decoder's layer count and widths |
| §4.3: "best results with stride 2 in the encoder and upsampling in the decoder" | no max-pooling, no transposed convolution | same |
| §4.1: "we chose to use the ReLU neuron" (tanh's gradients died) | ReLU after every hidden convolution | same |
| §4.2: "adding batchnorm after every layer" | BatchNorm after every convolution but the ab output | same but for the output layer, which BatchNorm would pin to zero mean and unit variance |
| (output activation) | tanh on the ab layer | paper silent: tanh keeps ab in colorbench's shared normalised range |
| §3.3: "16-layer VGG network pretrained on the ImageNet dataset as our loss network" | torchvision's ImageNet VGG16, frozen, only for the loss (`colorbench.methods.perceptual`) | same |
| §3.3: l_j = 1/(C_j H_j W_j) ‖φ_j(I) − φ_j(I')‖², loss Σ_j λ_j l_j | a weighted sum of per-layer mean squared differences | same (§3.1 says "sum of squared differences"; we follow the normalised formula of §3.3) |
| §3.3: "We play around different combinations of the weights λ" | relu1_2, relu2_2, relu3_3, relu4_3 with weights 1, 1, 0.5, 1 | paper silent on the layers and weights: shallow layers carry colour and edges, relu4_3 the semantics; on the built-in photos the four squared differences between a gray and a true colouring are of the same order (0.7, 1.8, 4.9, 2.1 per element), so only relu3_3, the largest, is halved |
| §3.4: ab joined with L, turned to RGB, and the ground truth and generated images sent through the loss network | the same, with a differentiable Lab-to-RGB | same |
| §3.4: "subtracting a fixed pixel from each of our images and then rotating by 180 degrees" (the "guidelines of VGG16") | RGB normalised by ImageNet's mean and std | deliberate choice: that is the input the VGG16 weights colorbench uses (torchvision's) expect |
| §4.4: "with rmsprop we are able to converge with much less number of batches compared to Adam" | RMSProp | same (§4.4 compares them with an MSE loss; §4.5 names no optimiser, so we take §4.4's choice) |
| (RMSProp's decay and epsilon) | decay 0.9, epsilon 1e-8, no momentum | paper silent: 0.9 is the default decay of TensorFlow's RMSProp, the framework the paper used (§9); 1e-8 is PyTorch's epsilon |
| §4.5: "For the first thirty epochs we use 0.001, for the next 35 we use 10^{-4} and for another 35 epochs we use 10^{-8}" | learning rate 1e-3, 1e-4, 1e-8 over 30 %, 35 %, 35 % of the steps | same, as shares of any run's steps |
| §4.5: "We trained the model with 25k images", "100 epochs"; §8: "our standard training image size of 256×256" | the `full` profile: 100 epochs of 25,000 images | same |
| (batch size) | 32 (`full`), 16 (`quick`) | paper silent |
| §6: "we increased the saturation by 40 percent as part of post processing" | ab multiplied by `saturation_boost` = 1.4 at prediction, clamped to [-1, 1] | same amount; paper silent on the colour space: scaling ab scales Lab chroma and leaves hue and the input's L alone. `--set saturation_boost=1` scores the bare network |
| (noise) | none: one colouring per input | same: §3's F maps each X_L to one (X_a, X_b) |

Profiles: `smoke` (3 steps at batch 4: tests). `quick`: the paper's network, loss,
optimiser and schedule, only shortened, to 150 steps at batch 16 (45 at 1e-3, 53 at
1e-4, 52 at 1e-8), minutes on two CPU cores at 64 px. `full`: the paper's scale, 100
epochs of its 25,000 training images at 256x256, at batch 32 (781 steps an epoch:
78,100 steps, the rate falling after epochs 30 and 65). The paper does not name the
collection its 25k images came from; it expects better results "when trained on the entire
IMAGENET" (§7), so pass an ImageNet subset of 25,000 images:
``--profile full --size 256 --dataset folder:PATH``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import torch
from torch import nn

import colorbench
from colorbench.methods.colorizer import Colorizer, TrainConfig
from colorbench.lab import normalized_to_rgb


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class TransformationNet(nn.Module):
    """The image transformation network: L (B, 1, S, S) in [-1, 1] -> ab (B, 2, S, S) in [-1, 1].

    Encoder: one 3x3 convolution per entry of ``encoder_widths``, stride 2 at the
    (1-based) ``strided_layers``. Decoder: one 3x3 convolution per entry of
    ``decoder_widths``, a 2x nearest-neighbour upsampling before each of the
    ``upsampled_layers``; then a 3x3 convolution and tanh give ab. Every other
    convolution is followed by BatchNorm and ReLU. S must be a multiple of
    2^len(strided_layers).
    """

    def __init__(self, *, encoder_widths, strided_layers, decoder_widths, upsampled_layers):
        super().__init__()
        _check_layers("strided_layers", strided_layers, encoder_widths)
        _check_layers("upsampled_layers", upsampled_layers, decoder_widths)
        if len(strided_layers) != len(upsampled_layers):
            raise ValueError(f"{len(strided_layers)} strided layers but {len(upsampled_layers)} upsampled ones: the output would not be the input's size")
        self.halvings = len(strided_layers)
        encoder, cin = [], 1
        for i, width in enumerate(encoder_widths, 1):
            encoder += _conv(cin, width, stride=2 if i in strided_layers else 1)
            cin = width
        decoder: list[nn.Module] = []
        for i, width in enumerate(decoder_widths, 1):
            decoder += ([nn.Upsample(scale_factor=2, mode="nearest")] if i in upsampled_layers else []) + _conv(cin, width)
            cin = width
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)
        self.head = nn.Sequential(nn.Conv2d(cin, 2, 3, padding=1), nn.Tanh())

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        if L.shape[-1] % 2**self.halvings or L.shape[-2] % 2**self.halvings:
            raise ValueError(f"the network halves its input {self.halvings} times: sides must be multiples of {2**self.halvings}, got {tuple(L.shape[-2:])}")
        return self.head(self.decoder(self.encoder((L + 1) / 2)))  # the paper feeds L in [0, 1]


def _check_layers(name: str, layers, widths) -> None:
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"widths {tuple(widths)}: at least one layer, each at least 1 channel wide")
    if len(set(layers)) != len(layers) or not all(1 <= i <= len(widths) for i in layers):
        raise ValueError(f"{name} {tuple(layers)}: distinct layer numbers from 1 to {len(widths)}")


def rate_changes(steps: int, lr_epochs) -> list[int]:
    """The steps at which each learning rate after the first starts: ``steps`` split
    in the proportions of ``lr_epochs`` (the paper's epochs at each rate)."""
    total, changes, elapsed = sum(lr_epochs), [], 0
    for epochs in lr_epochs[:-1]:
        elapsed += epochs
        changes.append(round(steps * elapsed / total))
    return changes


@dataclass
class PerceptualCNNConfig(TrainConfig):
    encoder_widths: tuple[int, ...] = (64, 64, 64, 128, 128, 256, 256, 256, 512, 512)  # 10 layers, ending at 512 (§3.2)
    strided_layers: tuple[int, ...] = (4, 6)  # encoder layers with stride 2 (§3.2)
    decoder_widths: tuple[int, ...] = (256, 128, 64, 32)  # before the ab layer; ours but the 256
    upsampled_layers: tuple[int, ...] = (2, 4)  # decoder layers after a 2x nearest upsampling
    layer_weights: dict[str, float] = field(
        default_factory=lambda: {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 0.5, "relu4_3": 1.0}
    )  # VGG16 layer -> weight of its mean squared difference (λ_j, §3.3)
    lrs: tuple[float, ...] = (1e-3, 1e-4, 1e-8)  # RMSProp's learning rate in turn (§4.5)...
    lr_epochs: tuple[int, ...] = (30, 35, 35)  # ...for these epochs: `steps` is split in these proportions
    rmsprop_alpha: float = 0.9  # the squared gradients' decay (TensorFlow's default)
    rmsprop_eps: float = 1e-8
    saturation_boost: float = 1.4  # post-processing: ab *= boost, clamped to [-1, 1] (§6: +40 %); 1.0 = off

    def __post_init__(self):
        if len(self.lrs) != len(self.lr_epochs) or not self.lrs:
            raise ValueError(f"lrs {tuple(self.lrs)} and lr_epochs {tuple(self.lr_epochs)}: one epoch count for each learning rate")
        if any(lr <= 0 for lr in self.lrs) or any(e < 0 for e in self.lr_epochs) or sum(self.lr_epochs) <= 0:
            raise ValueError(f"lrs {tuple(self.lrs)}, lr_epochs {tuple(self.lr_epochs)}: positive rates, epochs that are not negative and not all 0")


class PerceptualCNN(Colorizer):
    name = "perceptual_cnn"
    description = (
        "Fully convolutional CNN (10 encoder convolutions, stride 2 at the 4th and 6th; nearest upsampling) "
        "trained by RMSProp on a VGG16 perceptual loss, learning rate 1e-3/1e-4/1e-8; saturation +40 %"
    )
    paper = (
        'Vangapelli and Kuppam (no year): Santosh Vangapelli, Satya Kuppam, "Colour Image Synthesis using CNNs", n.d. '
        "(§3.2 network, §3.3 VGG16 perceptual loss, §4.4 RMSProp, §4.5 learning-rate steps, §6 saturation +40 %)"
    )
    version = "2"
    stochastic = False
    Config = PerceptualCNNConfig
    profiles = {
        "smoke": dict(steps=3, batch_size=4),
        "quick": dict(steps=150, batch_size=16),
        "full": dict(steps=100 * (25_000 // 32), batch_size=32),  # 100 epochs of 25k images
    }

    def build(self):
        c = self.config
        if self.size % 2 ** len(c.strided_layers):  # said when built, not at the first step
            raise ValueError(f"{len(c.strided_layers)} stride-2 layers need a size that is a multiple of {2 ** len(c.strided_layers)}")
        return {
            "net": TransformationNet(
                encoder_widths=c.encoder_widths,
                strided_layers=c.strided_layers,
                decoder_widths=c.decoder_widths,
                upsampled_layers=c.upsampled_layers,
            )
        }

    def prepare_training(self, data):
        from colorbench.methods.perceptual import PerceptualLoss

        self.vgg_loss = PerceptualLoss(self.config.layer_weights).to(self.device)  # a loss network, not one of `nets`

    def optimizers(self):
        c = self.config
        return {"net": torch.optim.RMSprop(self.nets["net"].parameters(), lr=c.lrs[0], alpha=c.rmsprop_alpha, eps=c.rmsprop_eps)}

    def schedulers(self, optimizers):
        lrs, changes = self.config.lrs, rate_changes(self.config.steps, self.config.lr_epochs)

        def factor(step: int) -> float:  # of the first rate, at this step
            return lrs[bisect.bisect_right(changes, step)] / lrs[0]

        return {"net": torch.optim.lr_scheduler.LambdaLR(optimizers["net"], factor)}

    def perceptual_loss(self, L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
        """The weighted VGG16 feature loss between (L, ab_pred) and (L, ab_true) as RGB."""
        return self.vgg_loss(normalized_to_rgb(L, ab_pred), normalized_to_rgb(L, ab_true))

    def loss(self, L, ab):
        loss = self.perceptual_loss(L, self.nets["net"](L), ab)
        return loss, {"perceptual": loss}

    def predict(self, L, noise, reference=None):
        ab = self.nets["net"](L)
        boost = self.config.saturation_boost
        return ab if boost == 1.0 else (ab * boost).clamp(-1, 1)


@colorbench.hookimpl
def register_colorizers(register):
    register(PerceptualCNN)
