"""Self-attention GAN trained the NoGAN way: Narkhede et al. (no year), with DeOldify's recipe.

Amey Narkhede, Rishikesh Mahajan, Priya Pacharane, "Image Colorization using Self
attention GAN" (no year or venue given). What the paper leaves open is taken from
Jason Antic's DeOldify repository (jantic/DeOldify, 2019: deoldify/unet.py,
critics.py, loss.py, ColorizeTrainingStable.ipynb, README "What is NoGAN?") and
the fastai v1 it vendors; §2.2's account of the training (the "small window",
the repeated critic and GAN cycles, the "render resolution") follows that README
closely, though the paper does not cite DeOldify. Self-attention is that of Han
Zhang, Ian Goodfellow, Dimitris Metaxas, Augustus Odena, "Self-Attention
Generative Adversarial Networks", ICML 2019 (SAGAN), which the paper cites.

| the paper says | colorbench does | why |
|---|---|---|
| §1: "lightweight U-Net is used as generator"; §2.1: "The U-net[12] is modified to incorporate spectral normalization [13] and self attention mechanism described by SAGAN [11]" | `SAUNet`, L and z -> ab (tanh): spectral norm on every convolution but the 1x1 output; DeOldify's `DynamicUnetWide` layout: conv -> ReLU -> batch norm, batch-normed skips, pixel-shuffle up-sampling with ICNR, two middle convolutions, the input joined again before the last block (`last_cross`) | same; the layout: paper silent, DeOldify's |
| (the encoder is not described) | a plain spectral-normed conv encoder trained from scratch, `ngf` wide, halving the size `depth` = 5 times (a ResNet's stride 32) down to at least 4x4 | deliberate: DeOldify's encoder is an ImageNet ResNet (34 or 101); colorbench has no ResNet weights |
| §2.1: spectral normalization in the U-Net (on which layers is not said) | G's 1x1 output convolution has none, N(0, 0.02) initialisation | deliberate: behind spectral and batch norm the output's scale moves only through batch-norm gains (~lr a step), so a short schedule stays at saturated random colours (measured with version 1's quick profile: PSNR 18.9 with spectral norm there, 24.2 without) |
| §2.1: the "self attention mechanism described by SAGAN"; where it sits is not said | fastai's `SelfAttention` (DeOldify's): 1x1 spectral-normed query and key (C/8), value (C), softmax over positions, unscaled, output gamma * attention + x, gamma starting at 0; one in G after the decoder block at stride `attention_stride` = 4, one in the critic after its first block | the layer: same; its places: paper silent; the critic's is DeOldify's; G's at stride 4 is deliberate: DeOldify's stride 8 leaves 8x8 positions at 64 px |
| §2.2: "G(z; θ_g) where z is uniformly distributed noise that is passed as input to generator" | one channel of uniform noise in [-1, 1], the image's size, joined to L as G's input; drawn in training from the seeded global generator and in `predict` from `noise`, so G is a sampler (`stochastic`) and a seed repeats its samples | same; the noise's shape, range and entry point: paper silent (DeOldify's G takes none) |
| §2.1: "The discriminator network D is just a binary classifier"; §2.2: "D(x; θ_d) where x is a color image. It gives the output between 0 and 1 which denotes the probability of image belonging to training data" | DeOldify's `custom_gan_critic` on the colour image (L and ab joined): spectral-normed convolutions, leaky ReLU 0.2, dropout 0.15 (half after the first layer), width doubling at each stride-2 4x4 convolution, a last 4x4 convolution to a grid of logits, each a real-or-generated probability after a sigmoid | same (a binary classifier of colour images); the architecture and the grid of patches: paper silent, DeOldify's; Lab rather than RGB: colorbench's contract, the same information |
| (the binary classifier above; the loss is not written out) | binary cross-entropy on each logit: the critic's (real 1, generated 0) halved, G's towards "real" (the non-saturating loss) | same: a probability-giving classifier is trained with cross-entropy, as DeOldify's (`AdaptiveLoss(nn.BCEWithLogitsLoss())`, fastai's `gan_loss_from_func`); version 1 used SAGAN's hinge loss, whose critic gives no probability |
| §2.1: "We can also simply use a pre-trained discriminator used for another image-to-image task(like CycleGAN [15]) and fine-tune it" | the critic is pre-trained from scratch | an option in the paper; colorbench has no such weights |
| §2.2: "Initially we train the generator using perceptual/feature loss proposed by Johnson et al [14]" | phase `pretrain_G`: G alone on mean squared differences of ImageNet VGG16 activations (squared, as Johnson et al.'s feature reconstruction loss) between RGB of (L, prediction) and of the truth, at relu3_3, relu4_3, relu5_3 weighted 0.05, 0.4, 0.2, plus `l1_weight` = 1 x L1 on ab | layers, weights and the pixel term: paper silent, DeOldify's `FeatureLoss` (VGG16-bn, L1 differences at the layers before its 3rd-5th max-pools weighted 20, 70, 10, plus an L1 on the image, weight 1); the weights here keep that 20 : 70 : 10 proportion for squared differences, which have other scales (3.8, 1.8, 0.51 for a gray prediction on the built-in data); the pixel L1 is on ab, what G predicts |
| §2.2: "the discriminator as basic binary classifier separately" | phase `pretrain_critic`: the critic alone, real images against G's outputs, G frozen in eval mode | same; on G's outputs: DeOldify (it saves G's predictions and trains the critic on them) |
| §2.1: "training both networks in GAN setting using Two Time-Scale Update Rule proposed by Heusel et al [16]" | phase `gan`: per batch one critic step, then one G step on `gan_weight` = 1.0 x GAN loss + `content_weight` = 1.5 x (feature loss + L1); one Adam for each network | weights: paper silent, DeOldify's `weights_gen=(1.0, 1.5)`, in fastai's order (critic's term first; version 1 had them swapped); alternation: paper silent, deliberate: DeOldify's `AdaptiveGANSwitcher(critic_thresh=0.65)` repeats critic steps until its loss is below 0.65, fixed counts keep a phase's length known; all of G trains, where DeOldify (`freeze_to(-1)`) keeps its ImageNet encoder fixed |
| §3: "We used Adam as optimizer. The initial learning rate for both generator G and discriminator D are set to 0.0002." | Adam, `lr_G` = `lr_D` = 2e-4 in every phase, constant | the rate: same (version 1 had DeOldify's 1e-3 for pre-training and SAGAN's 1e-4 / 4e-4 for the GAN phase); constant: paper silent on what follows "initial"; one rate for both: paper inconsistent, a two time-scale rule with a single rate is two optimisers at one rate; SAGAN's rates are `--set lr_G=1e-4 --set lr_D=4e-4` |
| (Adam's betas are not given) | (0.9, 0.99) in the pre-training phases, (0, 0.9) in the GAN phase | paper silent: fastai's Adam default (DeOldify's pre-training) and DeOldify's GAN `opt_func` betas (SAGAN's too) |
| §2.2: "After small window of time it is observed that discriminator no longer provides constructive feedback to generator" | a short GAN phase: `gan_steps` a small fraction of `pretrain_steps` | same; its length: paper silent, DeOldify's 3 % of ImageNet (`keep_pct=0.03`; README: "1% to 3% of the Imagenet Data") |
| §2.2: "We can repeat pre-training the discriminator after the initial GAN training and then repeat the GAN training as previously described in the same manner" | `cycles` (1 by default) repeats phases 2 and 3 | same, optional as in the paper; DeOldify repeats "about 5-8" times |
| §1: "trained in unsupervised fashion without strictly paired data" | trained on the L and ab of the same images | paper inconsistent: its feature loss compares G's output with the colour image, which needs the pair |
| §3: "We trained generator and discriminator on ImageNet [17] dataset"; image size, batch size, epochs: not given | `full`: ImageNet at 192 px, amounts of data from DeOldify (Profiles) | paper silent beyond the dataset |
| - | no blur after pixel shuffle, no one-cycle schedule, no weight decay (DeOldify's 1e-3), no progressive resizing (DeOldify's 64 -> 128 -> 192 px) | deliberate: a plain fixed-size schedule; paper silent on all four |
| - | batch norm and spectral norm in eval mode when colourizing (running statistics, stored power-iteration vectors) | deliberate: an image's colours do not depend on its batch |

Profiles: `smoke` (tests: 2 steps a phase at batch 4, narrow nets); `quick`
(the paper's rates and noise, shortened: 64 px, batch 16, `ngf` 16, critic
width 32, 120 + 60 + 40 steps, minutes on two CPU cores, nearly all of it VGG16);
`full` (the paper's dataset, ImageNet, at DeOldify's 192 px since the paper gives
no size, batch or epochs: `--dataset folder:IMAGENET --size 192`; `ngf` 64,
critic width 256 (DeOldify's `nf=256`), batch 32; G pre-trained 100,000 steps,
the 2.5 ImageNet epochs of DeOldify's 64, 128 and 192 px stages; the critic
35,000 steps, DeOldify's 6 epochs of G's outputs for 8.5 % of ImageNet and
ImageNet's test images; GAN 1,200 steps, 3 % of ImageNet). `steps` is derived:
set `pretrain_steps`, `critic_steps`, `gan_steps` and `cycles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import colorbench
from colorbench.methods.colorizer import Colorizer, Phase, TrainConfig, Update
from colorbench.lab import normalized_to_rgb
from colorbench.methods.networks import gan_loss as cross_entropy, init_weights
from colorbench.methods.perceptual import PerceptualLoss


# ------------------------------------------------------------------ building blocks
def sn_conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True) -> nn.Module:
    """A spectrally normalised convolution (DeOldify's ``NormType.Spectral``)."""
    padding = (kernel - 1) // 2 if padding is None else padding
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=bias))


def conv_layer(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """fastai's ``conv_layer`` with spectral norm: 3x3 conv -> ReLU -> batch norm."""
    return nn.Sequential(sn_conv(cin, cout, 3, stride), nn.ReLU(), nn.BatchNorm2d(cout))


class SelfAttention(nn.Module):
    """SAGAN's self-attention as fastai's ``SelfAttention`` (DeOldify's) has it:
    o = gamma * softmax(q^T k) v + x, gamma starting at 0.

    Query and key have C/8 channels (at least 1), value C; the scores are not
    scaled (SAGAN's, unlike the 1/sqrt(d) of transformers)."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.query = sn_conv(channels, inner, 1, bias=False)
        self.key = sn_conv(channels, inner, 1, bias=False)
        self.value = sn_conv(channels, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention output alone (before gamma and the residual)."""
        B, C, H, W = x.shape
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N, C/8)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N, C)
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # softmax over the attended positions
        return out.squeeze(1).transpose(1, 2).reshape(B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * self.attend(x) + x


def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """ICNR (Aitken et al. 2017, fastai's ``icnr``): the sub-kernels of a pixel
    shuffle start equal, so it starts as nearest-neighbour up-sampling."""
    out, cin, kh, kw = weight.shape
    sub = torch.empty(out // scale**2, cin, kh, kw)
    nn.init.kaiming_normal_(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale**2, dim=0))
    return weight


class UpBlock(nn.Module):
    """DeOldify's ``UnetBlockWide``: pixel-shuffle up, batch-normed skip joined,
    ReLU, then conv -> ReLU -> batch norm (-> self-attention)."""

    def __init__(self, up_in: int, skip_in: int, out: int, attention: bool = False):
        super().__init__()
        conv = nn.Conv2d(up_in, out * 4, 1)
        icnr_(conv.weight)
        nn.init.zeros_(conv.bias)
        self.shuffle = nn.Sequential(spectral_norm(conv), nn.PixelShuffle(2), nn.ReLU())
        self.skip_bn = nn.BatchNorm2d(skip_in)
        self.conv = conv_layer(out + skip_in, out)
        self.attention = SelfAttention(out) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.relu(torch.cat([self.shuffle(x), self.skip_bn(skip)], dim=1))
        return self.attention(self.conv(x))


class SAUNet(nn.Module):
    """Spectral-normed U-Net with self-attention: L and noise z (B, 1, S, S each) -> ab (B, 2, S, S) in [-1, 1].

    The encoder halves the size ``depth`` times, widths ``ngf * min(2**(i-1), 8)``
    at stride 2**i (a ResNet's first features are at stride 2 too); the decoder
    mirrors it, and its last block up-samples to full size and joins the input
    L (DeOldify's ``last_cross``), so only one 3x3 convolution runs at full
    resolution. Self-attention follows the decoder block whose output is at
    stride ``attention_stride``. L and z are joined as its input, which the
    last block joins again."""

    def __init__(self, *, size: int, ngf: int = 64, depth: int = 5, attention_stride: int = 4):
        super().__init__()
        depth = max(2, min(depth, int(math.log2(size)) - 2))  # stop at 4x4
        if size % 2**depth:
            raise ValueError(f"SAUNet needs a size divisible by {2**depth}, got {size}")
        attention_stride = min(attention_stride, 2 ** (depth - 1))  # a shallow net: its deepest block
        widths = [2] + [ngf * min(2 ** (i - 1), 8) for i in range(1, depth + 1)]  # by stride 2**i; L and z at 1
        self.down = nn.ModuleList([conv_layer(widths[i], widths[i + 1], stride=2) for i in range(depth)])
        bottom = widths[-1]
        self.middle = nn.Sequential(conv_layer(bottom, 2 * bottom), conv_layer(2 * bottom, bottom))
        self.up = nn.ModuleList(
            [
                UpBlock(widths[i + 1], widths[i], max(widths[i], ngf), attention=2**i == attention_stride)
                for i in reversed(range(depth))
            ]
        )
        # The output projection is the one convolution left without spectral norm:
        # with it (and batch norm before it) the output's scale could move only
        # through batch-norm gains, ~lr per step, and G would start, and for a short
        # schedule stay, at saturated random colours. N(0, 0.02) starts G near gray.
        self.head = nn.Sequential(init_weights(nn.Conv2d(ngf, 2, 1)), nn.Tanh())

    def forward(self, L: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = torch.cat([L, z], dim=1)
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.middle(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(x, skip)
        return self.head(x)


class PatchCritic(nn.Module):
    """DeOldify's ``custom_gan_critic``: spectral-normed convolutions, leaky ReLU,
    dropout, self-attention after the first block; a grid of patch logits.

    ``n_blocks`` (3 in DeOldify) shrinks with the size so the last 4x4
    convolution still sees 8x8 and gives a 5x5 grid or more."""

    def __init__(self, *, in_channels: int, size: int, ndf: int = 256, n_blocks: int = 3, dropout: float = 0.15):
        super().__init__()
        n_blocks = max(0, min(n_blocks, int(math.log2(size)) - 4))

        def conv(cin, cout, kernel, stride):
            return [sn_conv(cin, cout, kernel, stride, padding=1), nn.LeakyReLU(0.2)]

        layers = [*conv(in_channels, ndf, 4, 2), nn.Dropout2d(dropout / 2)]
        width = ndf
        for i in range(n_blocks):
            layers += [*conv(width, width, 3, 1), nn.Dropout2d(dropout), *conv(width, 2 * width, 4, 2)]
            width *= 2
            if i == 0:
                layers.append(SelfAttention(width))
        layers += [*conv(width, width, 3, 1), sn_conv(width, 1, 4, 1, padding=0, bias=False)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def uniform_noise(L: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The paper's z, "uniformly distributed noise": one channel in [-1, 1] (L's
    range) of L's size, from ``generator`` (None: torch's seeded global one)."""
    return torch.rand(L.shape, generator=generator, device=L.device, dtype=L.dtype) * 2 - 1


# ------------------------------------------------------------------ the method
@dataclass
class SAGANConfig(TrainConfig):
    steps: int = field(default=0, metadata={"derived": "pretrain_steps + cycles x (critic_steps + gan_steps)"})
    ngf: int = 64  # generator width at full resolution (narrower than DeOldify's ResNet U-Net)
    depth: int = 5  # stride-2 halvings in G (ResNet's stride 32), stopping at 4x4
    attention_stride: int = 4  # G's self-attention after the decoder block at this stride
    ndf: int = 256  # critic width (DeOldify's nf=256)
    critic_blocks: int = 3  # DeOldify's n_blocks
    critic_dropout: float = 0.15  # DeOldify's p
    feature_weights: dict[str, float] = field(
        default_factory=lambda: {"relu3_3": 0.05, "relu4_3": 0.4, "relu5_3": 0.2}
    )  # DeOldify's layers; weights rebalanced for squared errors (docstring)
    l1_weight: float = 1.0  # L1 on ab beside the feature loss (DeOldify's pixel term)
    content_weight: float = 1.5  # phase 3: feature loss + L1 (DeOldify's weights_gen=(1.0, 1.5), second)
    gan_weight: float = 1.0  # phase 3: the critic's term (weights_gen, first)
    lr_G: float = 2e-4  # Adam, every phase (the paper, §3)
    lr_D: float = 2e-4  # Adam, every phase (the paper, §3)
    pretrain_betas: tuple[float, float] = (0.9, 0.99)  # phases 1-2: fastai's Adam (DeOldify's pre-training)
    gan_betas: tuple[float, float] = (0.0, 0.9)  # phase 3: DeOldify's GAN opt_func (SAGAN's too)
    pretrain_steps: int = 100_000  # phase 1 (full: DeOldify's 2.5 ImageNet epochs at batch 32)
    critic_steps: int = 35_000  # phase 2 (full: DeOldify's 6 epochs of its critic data)
    gan_steps: int = 1_200  # phase 3 (full: 3 % of ImageNet, DeOldify's keep_pct=0.03)
    cycles: int = 1  # rounds of phases 2 and 3 (the paper's optional repeat)

    def __post_init__(self):
        self.pretrain_betas, self.gan_betas = tuple(self.pretrain_betas), tuple(self.gan_betas)  # lists, from JSON
        # `steps` is the total, derived so the record shows it; the phases' own fields
        # are what one sets (`from_profile` and --set refuse `steps`).
        self.steps = self.pretrain_steps + max(1, self.cycles) * (self.critic_steps + self.gan_steps)


class SAGAN(Colorizer):
    name = "sagan"
    version = "2"  # 2: the paper's Adam 2e-4 and uniform noise into G, cross-entropy GAN loss, DeOldify's loss weights in their order
    description = (
        "spectral-norm self-attention U-Net fed L and uniform noise; NoGAN (DeOldify's): VGG feature-loss G, "
        "then critic, then a short cross-entropy GAN; Adam 2e-4"
    )
    paper = (
        'Narkhede et al. (no year): Amey Narkhede, Rishikesh Mahajan, Priya Pacharane, "Image Colorization using Self '
        'attention GAN", §2-3; NoGAN schedule, loss weights and critic from Jason Antic\'s DeOldify repository (2019); '
        'self-attention from Han Zhang, Ian Goodfellow, Dimitris Metaxas, Augustus Odena, "Self-Attention Generative '
        'Adversarial Networks", ICML 2019, §3'
    )
    Config = SAGANConfig
    stochastic = True  # G(z; θ_g) takes uniform noise (§2.2)
    profiles = {
        "smoke": dict(ngf=8, ndf=8, pretrain_steps=2, critic_steps=2, gan_steps=2, batch_size=4),
        "quick": dict(ngf=16, ndf=32, pretrain_steps=120, critic_steps=60, gan_steps=40, batch_size=16),
        "full": dict(batch_size=32),
    }

    def build(self):
        c = self.config
        return {
            "G": SAUNet(size=self.size, ngf=c.ngf, depth=c.depth, attention_stride=c.attention_stride),
            "D": PatchCritic(in_channels=3, size=self.size, ndf=c.ndf, n_blocks=c.critic_blocks, dropout=c.critic_dropout),
        }

    def prepare_training(self, data):
        # The loss network is an attribute, not in `nets`: checkpoints never hold VGG.
        self.feature_loss = PerceptualLoss(self.config.feature_weights).to(self.device)

    def optimizers(self):
        c = self.config
        G, D = self.nets["G"].parameters, self.nets["D"].parameters
        return {
            "G_pre": torch.optim.Adam(G(), lr=c.lr_G, betas=c.pretrain_betas),
            "D_pre": torch.optim.Adam(D(), lr=c.lr_D, betas=c.pretrain_betas),
            "G": torch.optim.Adam(G(), lr=c.lr_G, betas=c.gan_betas),
            "D": torch.optim.Adam(D(), lr=c.lr_D, betas=c.gan_betas),
        }

    def phases(self):
        c = self.config
        phases = [Phase("pretrain_G", c.pretrain_steps, [Update("G_pre", self.content_loss)], shared=self.generate)]
        for cycle in range(1, max(1, c.cycles) + 1):
            suffix = f"_{cycle}" if cycle > 1 else ""
            phases += [
                Phase("pretrain_critic" + suffix, c.critic_steps, [Update("D_pre", self.critic_loss)], shared=self.generate_frozen),
                Phase("gan" + suffix, c.gan_steps, [Update("D", self.critic_loss), Update("G", self.gan_loss)], shared=self.generate_for_gan),
            ]
        return phases

    # ------------------------------------------------------------ G's output, once per step
    def generate(self, L, ab):
        """Phase 1: G in training mode (the critic is not used)."""
        self.nets["G"].train()
        return {"fake": self.nets["G"](L, uniform_noise(L))}

    def generate_frozen(self, L, ab):
        """Phase 2: G frozen in eval mode, the critic training."""
        G, D = self.nets["G"], self.nets["D"]
        G.eval(), D.train()
        with torch.no_grad():
            return {"fake": G(L, uniform_noise(L))}

    def generate_for_gan(self, L, ab):
        """Phase 3: both training."""
        G, D = self.nets["G"], self.nets["D"]
        G.train(), D.train()
        return {"fake": G(L, uniform_noise(L))}

    # ------------------------------------------------------------ losses
    def critic_input(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return torch.cat([L, ab], dim=1)  # the colour image, in Lab

    def content_terms(self, L, ab, fake) -> dict[str, torch.Tensor]:
        """DeOldify's ``FeatureLoss``, as here: VGG feature loss on RGB, and L1 on ab."""
        rgb_fake, rgb_true = normalized_to_rgb(L, fake), normalized_to_rgb(L, ab)
        return {"feature": self.feature_loss(rgb_fake, rgb_true), "L1": F.l1_loss(fake, ab)}

    def content(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return terms["feature"] + self.config.l1_weight * terms["L1"]

    def content_loss(self, L, ab, fake):
        """Phase 1: G alone on the feature loss + L1."""
        terms = self.content_terms(L, ab, fake)
        return self.content(terms), terms

    def critic_loss(self, L, ab, fake):
        """Phases 2 and 3: the critic as a binary classifier, real vs G's output
        (cross-entropy on each patch's logit, halved as fastai's)."""
        D = self.nets["D"]
        real, generated = D(self.critic_input(L, ab)), D(self.critic_input(L, fake.detach()))
        loss = 0.5 * (cross_entropy(real, True) + cross_entropy(generated, False))
        return loss, {"D": loss}

    def gan_loss(self, L, ab, fake):
        """Phase 3, after the critic's step: G on content_weight x (feature + L1)
        + gan_weight x cross-entropy towards "real" (non-saturating)."""
        terms = self.content_terms(L, ab, fake)
        D = self.nets["D"]
        D.requires_grad_(False)  # G's update: no gradients for the critic's weights
        terms["G_gan"] = cross_entropy(D(self.critic_input(L, fake)), True)
        D.requires_grad_(True)
        c = self.config
        return c.content_weight * self.content(terms) + c.gan_weight * terms["G_gan"], terms

    def predict(self, L, noise, reference=None):
        return self.nets["G"](L, uniform_noise(L, noise))


@colorbench.hookimpl
def register_colorizers(register):
    register(SAGAN)
