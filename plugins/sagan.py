"""Self-attention GAN trained the NoGAN way: Narkhede et al. (n.d.), with DeOldify and SAGAN.

Amey Narkhede, Rishikesh Mahajan, Priya Pacharane, "Image Colorization using Self
attention GAN" (no year given), which follows DeOldify (Jason Antic, the DeOldify
repository, 2019); Han Zhang, Ian Goodfellow, Dimitris Metaxas, Augustus Odena,
"Self-Attention Generative Adversarial Networks", ICML 2019 (SAGAN).

What it follows:
- Generator (Narkhede et al.; DeOldify's ``DynamicUnetWide``, deoldify/unet.py): a
  U-Net L -> ab with spectral normalisation on its convolutions (DeOldify's
  ``NormType.Spectral``), fastai's layer order conv -> ReLU -> batch norm,
  batch norm on each skip connection before it is joined, up-sampling by a 1x1
  convolution and pixel shuffle with ICNR initialisation
  (``PixelShuffle_ICNR``), two convolutions in the middle, and a last block
  that joins the input L again (``last_cross``). Output: tanh, in the shared
  normalised ab range. Deterministic (`stochastic` is False): DeOldify's
  generator takes no noise.
- Self-attention (SAGAN §3): 1x1 convolutions give query and key (C/8
  channels) and value (C); a softmax over all positions weights the values
  (scores unscaled, as SAGAN's); the output is gamma * attention + x with a
  learned gamma initialised at 0, so the layer starts as the identity. Its
  convolutions are spectrally normalised, as in fastai's ``SelfAttention``.
  G has one in its decoder, the critic one after its first block (DeOldify).
- Critic (DeOldify's ``custom_gan_critic``, deoldify/critics.py): spectral-
  normed convolutions with leaky ReLU 0.2, no batch norm, dropout (p = 0.15,
  half that after the first layer), width doubling at each stride-2 4x4
  convolution with a 3x3 convolution before it, and a last 4x4 convolution
  without padding to a grid of patch logits. It sees the colour image, as
  DeOldify's does; here in Lab (L and ab joined), the same information as RGB
  without RGB's clipping, so it is conditioned on L through the image itself.
- NoGAN schedule (Narkhede et al.; DeOldify README "What is NoGAN?" and
  ColorizeTrainingStable.ipynb), `phases()`:
  1. ``pretrain_G``: G alone on the feature loss plus a small L1 on ab; Adam,
     learning rate 1e-3, betas (0.9, 0.99) (DeOldify: ``fit_one_cycle(1,
     max_lr=1e-3)`` with fastai's Adam).
  2. ``pretrain_critic``: the critic alone as a real-vs-generated classifier
     on G's output, G frozen and in eval mode (DeOldify saves G's predictions
     to disk and trains the critic on them); Adam 1e-3 (DeOldify's
     ``fit_one_cycle(6, 1e-3)``).
  3. ``gan``: a short GAN phase, a critic step then a generator step per
     batch; G's loss = feature loss + L1 + 1.5 GAN loss (DeOldify's
     ``weights_gen=(1.0, 1.5)``); hinge loss (SAGAN §4); the two time-scale
     update rule (SAGAN §4): critic learning rate 4e-4, G 1e-4, Adam betas
     (0, 0.9) (SAGAN's; DeOldify's GAN phase also uses betas (0, 0.9)).
  ``cycles`` > 1 repeats phases 2 and 3, as DeOldify repeats its GAN cycle
  ("about 5-8" times in ColorizeTrainingStable).

What it changes, and why:
- No pretrained encoder: DeOldify's U-Net is built on an ImageNet ResNet (34
  or 101); colorbench has no ResNet weights, so the encoder is a plain
  spectral-normed conv stack trained from scratch, much narrower. It halves
  the size ``depth`` = 5 times (a ResNet's stride 32), stopping at 4x4.
- Feature loss: colorbench.methods.perceptual.PerceptualLoss (VGG16, not DeOldify's
  VGG16-bn; squared, not absolute, differences) at DeOldify's layers relu3_3,
  relu4_3, relu5_3, on RGB from (L, predicted ab) (`normalized_to_rgb`,
  differentiable) against RGB of the truth. DeOldify weights its L1
  differences 20, 70, 10; squared differences have other scales, so the
  weights here, 0.05, 0.4, 0.2, put the three terms in that 20 : 70 : 10
  proportion, summing to ~1, for a gray prediction on the built-in data
  (measured squared differences 3.8, 1.8, 0.51). DeOldify's pixel term (L1 on
  RGB, weight 1) becomes an L1 on ab, weight 1 (~0.14 for gray, 0.12-0.16
  trained: small beside the feature loss).
- The 1x1 output projection is the one convolution of G without spectral
  norm, initialised N(0, 0.02) (colorbench.methods.networks.init_weights): with
  spectral norm and batch norm before it, the output's scale can move only
  through batch-norm gains, ~1e-3 per step, and G starts, and for a short
  schedule stays, at saturated random colours (measured on the quick profile:
  PSNR 18.9 and colourfulness 65 against the truth's 39, below gray's 20.9;
  24.2 and 40 with this change). On that profile the GAN phase does what
  NoGAN means it to: colourfulness 33 after phase 1, ~40 after phase 3, at
  the same PSNR and LPIPS.
- Losses: hinge for critic and G (SAGAN) where DeOldify uses binary cross
  entropy; critic and generator steps alternate one to one, where DeOldify's
  ``AdaptiveGANSwitcher`` trains G until the critic's loss falls below 0.65.
  DeOldify's GAN learning rates (2e-5, critic 5x) fine-tune at batch 5;
  SAGAN's (1e-4, 4e-4) are used here.
- G's self-attention sits at stride ``attention_stride`` = 4 (16x16 at
  64 px). DeOldify's is at stride 8, which would leave 8x8 positions at 64 px;
  SAGAN found attention on the larger feature maps (32, 64) works best. The
  critic keeps at least one stride-2 block per 16 px (3 in DeOldify, at
  256 px), so at 64 px it has 2 and gives 5x5 patch logits.
- No blur after pixel shuffle (ICNR alone against checkerboards), constant
  learning rates (no one-cycle schedule), no weight decay, no progressive
  resizing (DeOldify grows 64 -> 256 px).
- Batch norm and spectral norm run in eval mode when colourizing (running
  statistics, stored power-iteration vectors), so an image's colours do not
  depend on its batch.
- ``steps`` is the total of the phases, derived: set ``pretrain_steps``,
  ``critic_steps``, ``gan_steps`` and ``cycles``.
- Profiles: `smoke` (2 steps per phase at batch 4, narrow nets: tests);
  `quick` (64 px, batch 16, ngf 16, critic width 32: 120 + 60 + 40 steps,
  measured at 1.3, 0.17 and 1.5 s a step on one CPU core, ~230 s on one core,
  less on two; VGG16 at 64 px is nearly all of it); `full` (for a GPU, at
  DeOldify's scale where it is known: ngf 64, critic width 256 (DeOldify's
  ``nf=256``), batch 32; G pre-trained 40,000 steps, ~1 epoch of ImageNet's
  1.28M images as DeOldify's 64 px stage; critic 10,000 steps; GAN 1,200
  steps, ~3% of ImageNet, DeOldify's ``keep_pct=0.03``).
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
from colorbench.methods.networks import init_weights
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
    """SAGAN's self-attention: o = gamma * softmax(q^T k) v + x, gamma starting at 0.

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
    """Spectral-normed U-Net with self-attention: L (B, 1, S, S) -> ab (B, 2, S, S) in [-1, 1].

    The encoder halves the size ``depth`` times, widths ``ngf * min(2**(i-1), 8)``
    at stride 2**i (a ResNet's first features are at stride 2 too); the decoder
    mirrors it, and its last block up-samples to full size and joins the input
    L (DeOldify's ``last_cross``), so only one 3x3 convolution runs at full
    resolution. Self-attention follows the decoder block whose output is at
    stride ``attention_stride``."""

    def __init__(self, *, size: int, ngf: int = 64, depth: int = 5, attention_stride: int = 4):
        super().__init__()
        depth = max(2, min(depth, int(math.log2(size)) - 2))  # stop at 4x4
        if size % 2**depth:
            raise ValueError(f"SAUNet needs a size divisible by {2**depth}, got {size}")
        attention_stride = min(attention_stride, 2 ** (depth - 1))  # a shallow net: its deepest block
        widths = [1] + [ngf * min(2 ** (i - 1), 8) for i in range(1, depth + 1)]  # by stride 2**i; L at 1
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

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x, skips = L, [L]
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


def hinge_critic_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SAGAN's hinge loss for the critic, on logits of real and generated images."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


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
    l1_weight: float = 1.0  # L1 on ab, in G's loss in phases 1 and 3
    gan_weight: float = 1.5  # DeOldify's weights_gen=(1.0, 1.5)
    pretrain_lr: float = 1e-3  # phase 1, G (DeOldify max_lr 1e-3)
    critic_pretrain_lr: float = 1e-3  # phase 2, critic (DeOldify 1e-3)
    pretrain_betas: tuple[float, float] = (0.9, 0.99)  # fastai's Adam
    lr_G: float = 1e-4  # phase 3 (SAGAN TTUR)
    lr_D: float = 4e-4  # phase 3 (SAGAN TTUR: 4x G's)
    gan_betas: tuple[float, float] = (0.0, 0.9)  # SAGAN, DeOldify
    pretrain_steps: int = 40_000  # phase 1
    critic_steps: int = 10_000  # phase 2
    gan_steps: int = 1_200  # phase 3
    cycles: int = 1  # rounds of phases 2 and 3 (DeOldify repeats its GAN cycle)

    def __post_init__(self):
        self.pretrain_betas, self.gan_betas = tuple(self.pretrain_betas), tuple(self.gan_betas)  # lists, from JSON
        # `steps` is the total, derived so the record shows it; the phases' own fields
        # are what one sets (`from_profile` and --set refuse `steps`).
        self.steps = self.pretrain_steps + max(1, self.cycles) * (self.critic_steps + self.gan_steps)


class SAGAN(Colorizer):
    name = "sagan"
    description = "spectral-norm self-attention U-Net, NoGAN: VGG feature-loss G, then critic, then short hinge GAN (TTUR)"
    paper = (
        'Amey Narkhede, Rishikesh Mahajan, Priya Pacharane, "Image Colorization using Self attention GAN", n.d. '
        "(Jason Antic's DeOldify, 2019, NoGAN: feature-loss G, pre-trained critic, short GAN); "
        'Han Zhang, Ian Goodfellow, Dimitris Metaxas, Augustus Odena, "Self-Attention Generative Adversarial Networks", ICML 2019, §3-4'
    )
    Config = SAGANConfig
    stochastic = False
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
            "G_pre": torch.optim.Adam(G(), lr=c.pretrain_lr, betas=c.pretrain_betas),
            "D_pre": torch.optim.Adam(D(), lr=c.critic_pretrain_lr, betas=c.pretrain_betas),
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
        return {"fake": self.nets["G"](L)}

    def generate_frozen(self, L, ab):
        """Phase 2: G frozen in eval mode, the critic training."""
        G, D = self.nets["G"], self.nets["D"]
        G.eval(), D.train()
        with torch.no_grad():
            return {"fake": G(L)}

    def generate_for_gan(self, L, ab):
        """Phase 3: both training."""
        G, D = self.nets["G"], self.nets["D"]
        G.train(), D.train()
        return {"fake": G(L)}

    # ------------------------------------------------------------ losses
    def critic_input(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return torch.cat([L, ab], dim=1)  # the colour image, in Lab

    def content_losses(self, L, ab, fake) -> dict[str, torch.Tensor]:
        """The NoGAN generator loss: VGG feature loss on RGB, and L1 on ab."""
        rgb_fake, rgb_true = normalized_to_rgb(L, fake), normalized_to_rgb(L, ab)
        return {"feature": self.feature_loss(rgb_fake, rgb_true), "L1": F.l1_loss(fake, ab)}

    def content_loss(self, L, ab, fake):
        """Phase 1: G alone on the feature loss + L1."""
        terms = self.content_losses(L, ab, fake)
        return terms["feature"] + self.config.l1_weight * terms["L1"], terms

    def critic_loss(self, L, ab, fake):
        """Phases 2 and 3: the critic, real vs G's output (hinge)."""
        D = self.nets["D"]
        loss = hinge_critic_loss(D(self.critic_input(L, ab)), D(self.critic_input(L, fake.detach())))
        return loss, {"D": loss}

    def gan_loss(self, L, ab, fake):
        """Phase 3: G on feature + L1 + GAN (hinge) losses, after the critic's step."""
        terms = self.content_losses(L, ab, fake)
        D = self.nets["D"]
        D.requires_grad_(False)  # G's update: no gradients for the critic's weights
        terms["G_gan"] = -D(self.critic_input(L, fake)).mean()
        D.requires_grad_(True)
        c = self.config
        return terms["feature"] + c.l1_weight * terms["L1"] + c.gan_weight * terms["G_gan"], terms

    def predict(self, L, noise, reference=None):
        return self.nets["G"](L)


@colorbench.hookimpl
def register_colorizers(register):
    register(SAGAN)
