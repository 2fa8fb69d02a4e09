"""GAN with an L1-pretrained generator: Zhu (no year).

Zhiyuan Zhu, "Colorization Black and White Images with GAN", Zhejiang University
(no year given). Where the text leaves a detail open, the author's code, which the
paper links (github.com/DarthMurse/Colorization, src/large_model.py, src/main.py,
src/data.py), is followed where it agrees with the text, and named as the source.

| the paper says (section, short quote) | colorbench does | why |
|---|---|---|
| 3: "generate colored images in the LAB format"; G's two channels are "concatenated with the grayscale input as the L channel" | G maps L to ab; the colour image is the input's L with G's ab | same |
| 4.2: "converted to LAB format and normalized so that the value of each channel ranges from 0 to 1" | G sees L / 100 and gives ab01 = (ab + 110) / 220 through a sigmoid; the losses and the selection's L1 are on that scale | same; the formula for a and b and the output activation are not given: 110 is colorbench's shared ab bound, a sigmoid gives the range |
| 3.1: "a Unet structure with residual connection": "the down conv output ... is added to the output of the up conv" | additive skips: each up stage's output plus the encoder's output of the same size, so widths do not double on the way up | same |
| 3.1: "Each convolution block ... consists of a 2D convolution, a 2D batch normalization and a nonlinear activation ... majorly ... ReLU and LeakyReLU" | every block of G is convolution, BN, activation (the first down block too): LeakyReLU(0.2) down, ReLU up and in the residual blocks | same; the slope 0.2 and which goes where: the author's code (after pix2pix) |
| 3.1: the down conv: "kernel size (4, 4), padding 1, and stride 2"; the up conv "uses the same hyperparameter" | 4x4 stride-2 padding-1 convolutions down, the same transposed convolutions up | same |
| 3.1: "a Resnet block, which consists of two convolution block with kernel size (3, 3), padding 1, and stride 1, together with a residual connection"; "The Resnet blocks in the middle don't affect the size and channel number" | ``n_res`` = 3 residual blocks x + (3x3 conv, BN, ReLU, 3x3 conv, BN, ReLU)(x) between the last down and the first up stage | same; how many: paper silent (3: a deliberate choice; the author's code has two on each side of every level) |
| 3.1: the number of down convs and their widths: not given | ``n_down`` stride-2 stages down to 8x8 (3 at 64 px, 5 at 256 px), widths doubling from ngf = 64 to at most 8 ngf | paper silent; deliberate: an 8x8 bottleneck keeps the layout the additive skips refine, the residual blocks widen the context (the author's code goes down to 1x1) |
| 3.1: "At last, the output goes through another convolution block to increase the channel number from 1 to 2" | the last up convolution gives a and b (2 channels) directly, then the sigmoid; no BN there | deliberate departure: a one-channel full-size map would carry both colour channels; the author's code ends the same way (its last up convolution gives 2 channels) |
| 3.2: "a patched descriminator"; "three intermediate convolution blocks that shrink the size of the image and enlarge the channel of the image by a factor of 2"; "the output convolution block will reduce the channel number to 1" | `Discriminator`: a 4x4 stride-2 convolution to ndf with LeakyReLU(0.2), three 4x4 stride-2 blocks with BN doubling to 8 ndf, a 4x4 stride-1 convolution to one logit per patch (3x3 at 64 px, 15x15 at 256) | same; the input block, kernels, BN and slope: the author's code (pix2pix's PatchGAN, whose third block keeps the size where the paper's shrinks). Below 64 px, a block that would leave less than 4x4 keeps the size (3x3 kernel), so the smallest sizes work |
| 3.3, Eq. (1): D minimises "-E log D(x, y) - E (1 - log D(x, G(x)))" | D sees L and ab (real or G's); its loss is the cross-entropy on real plus on generated | same, "(1 - log D)" read as log(1 - D), the cross-entropy of the GAN of Isola et al. the paper builds on; not halved (the author's code and pix2pix halve it, Eq. (1) does not) |
| 3.3, Eq. (2): G minimises "-E log D(x, G(x)) + λ ‖G(x) - y‖₁" | G's loss: the cross-entropy with D's "real" label + 100 x mean abs(G(L) - ab01) | same; lambda: paper silent, 100 is the author's code's (lambda_L1=100.0), as pix2pix's |
| 4.2: "an Adam optimizer with beta1 = 0.5, beta2 = 0.999 and learning rate 2e-4 with no weight decay", for G and D | the same for G, D and G's pretraining; constant learning rate | same; no schedule is given |
| 4.2: "a batch size of 16 on each gpu", on "6 A100-40G-PCIE GPUs" | ``full``: batch 96 on one device; ``quick``: 16 | same total batch; on one device BN averages over 96 images, where the author's code (DDP, no synchronised BN) averaged over each GPU's 16 |
| 4.2: "a total epoch of 100"; the pretraining uses "the same setting, except that the training epoch is reduced to 20" | phase ``pretrain_L1`` (G alone on L1), then phase ``gan``; ``full``: 20 + 100 epochs, other profiles keep the 1:5 ratio | same (the author's code runs a fifth of each epoch's batches, limit_train_batches=0.2; colorbench follows the text) |
| 4.3: "the generator is pretrained for 20 epochs using the L1 error ..., then trained together with the descriminator as in the baseline setting" | G's GAN phase starts a fresh Adam (optimiser ``G``); the pretraining has its own (``G_pretrain``); D's starts with the GAN phase | paper silent on the optimiser's state; two trainings in "the same setting" read as two optimisers |
| 4.2: "I choose the model with the lowest L1 error to do the evaluation" | the core's held-out model selection (`colorbench.training.selection`): whole training images held out (a tenth of the training items, at most 1,000), the mean L1 on them in eval mode every ``select_every`` GAN steps and at the end; the lowest one's weights are the ones scored, its step and L1 recorded | same; on which images and how often: paper silent. The author's code holds out a fifth of ImageNet's training set (train_prop=0.8) and checks once an epoch (``full``: once an epoch). The pretraining's models are no candidates: the paper evaluates the GANs |
| 4.2: "the shorter dimension of the image is resized to 300 ..., then a random crop of size 256×256 and a random horizontal flip with 50% probability" | the dataset's random S x S crops with flips half of the time (a folder's images with the shorter side at S) | deliberate: every method is trained on the same crops |
| 4.1, 4.2: trained on ImageNet | ``full`` is sized for ImageNet-1k's 1,281,167 training images (given as ``--dataset folder:PATH``) | same, when the user passes that dataset |
| 4.3: naturalness judged by 7 people on 100 ImageNet validation images: 87.2 % from scratch, 91.3 % pretrained (91.1 % in section 5) | colorbench's metrics on the dataset's test images | deliberate: a human survey is not repeatable here |

Profiles: ``smoke`` (tests): 1 + 5 steps at batch 4, the held-out L1 every 2 GAN
steps. ``quick``: the paper's settings, shortened: 60 L1 + 300 GAN steps at batch
16 (the paper's batch per GPU), the held-out L1 every 50 GAN steps; a few minutes
on 2 CPU cores at 64 px (on builtin, one of its six training photos is held out).
``full``: the paper's scale: ImageNet-1k at 256 px (``--dataset folder:PATH
--size 256``, PATH holding ImageNet's train/ and, as test/, its validation
images), batch 96, 20 + 100 epochs of the 1,280,167 training images left once
1,000 are held out (13,335 steps an epoch: 266,700 + 1,333,500 steps), the
held-out L1 once an epoch. ``steps`` is derived: the sum of the two phases'
steps.

Colourizing runs BN in eval mode (running statistics), so an image's colours do
not depend on the other images in its batch; G is deterministic (no noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.methods.colorizer import Phase, Update
from colorbench.methods.gan import GANColorizer, GANConfig
from colorbench.methods.networks import gan_loss, init_weights
from colorbench.training.batches import HELD_OUT_ITEMS

IMAGENET_TRAIN = 1_281_167  # ImageNet-1k's training images: the paper's dataset
FULL_BATCH = 6 * 16  # "a batch size of 16 on each gpu", on 6 GPUs
FULL_EPOCH = (IMAGENET_TRAIN - HELD_OUT_ITEMS) // FULL_BATCH  # 13,335 steps


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Shared normalisation [-1, 1] -> the paper's [0, 1] (L / 100; (ab + 110) / 220)."""
    return (x + 1) / 2


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """The paper's [0, 1] -> shared normalisation [-1, 1]; inverse of `to_unit`."""
    return 2 * x - 1


def conv_block(conv: nn.Module, width: int, activation: nn.Module) -> nn.Sequential:
    """The paper's convolution block: convolution, batch norm, activation."""
    return nn.Sequential(conv, nn.BatchNorm2d(width), activation)


class ResidualBlock(nn.Module):
    """x + two 3x3 convolution blocks (conv, BN, ReLU) of x, at constant width."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(nn.Conv2d(width, width, 3, padding=1, bias=False), width, nn.ReLU()),
            conv_block(nn.Conv2d(width, width, 3, padding=1, bias=False), width, nn.ReLU()),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualUNet(nn.Module):
    """L in [0, 1] -> ab in [0, 1]: 4x4 stride-2 convolution blocks down ``n_down``
    times, ``n_res`` residual blocks at the bottom, 4x4 stride-2 transposed
    convolution blocks back up, each up stage's output added to its mirror down
    stage's, the last up convolution giving ab through a sigmoid."""

    def __init__(self, *, size: int, ngf: int = 64, n_down: int = 3, n_res: int = 3):
        super().__init__()
        if n_down < 1 or size % 2**n_down or size // 2**n_down < 2:
            raise ValueError(f"{n_down} halvings need a size divisible by {2 ** n_down} and at least {2 ** (n_down + 1)}, got {size}")
        widths = [ngf * min(2**i, 8) for i in range(n_down)]
        self.down = nn.ModuleList(
            conv_block(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=False), cout, nn.LeakyReLU(0.2))
            for cin, cout in zip([1, *widths[:-1]], widths)
        )
        self.res = nn.Sequential(*[ResidualBlock(widths[-1]) for _ in range(n_res)])
        # Each up stage gives the width of the down stage it is added to.
        self.up = nn.ModuleList(
            conv_block(nn.ConvTranspose2d(widths[i], widths[i - 1], 4, stride=2, padding=1, bias=False), widths[i - 1], nn.ReLU())
            for i in range(n_down - 1, 0, -1)
        )
        self.out = nn.Sequential(nn.ConvTranspose2d(widths[0], 2, 4, stride=2, padding=1), nn.Sigmoid())
        init_weights(self)

    def forward(self, L: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        if code is not None:
            raise ValueError("this generator is deterministic: it takes no code")
        skips = []
        x = L
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.res(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(x) + skip
        return self.out(x)


class Discriminator(nn.Module):
    """Zhu's patch discriminator: an input convolution, three blocks that halve the
    size and double the width, an output convolution to one logit per patch.

    A block whose input is under 8x8 keeps its size (3x3, stride 1) instead, so
    the output convolution always has 4x4 to work on."""

    def __init__(self, *, in_channels: int, size: int, ndf: int = 64):
        super().__init__()
        layers, side = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)], size // 2
        for width in (2 * ndf, 4 * ndf, 8 * ndf):
            halves = side >= 8
            conv = nn.Conv2d(width // 2, width, 4 if halves else 3, stride=2 if halves else 1, padding=1, bias=False)
            layers.append(conv_block(conv, width, nn.LeakyReLU(0.2)))
            side //= 2 if halves else 1
        layers.append(nn.Conv2d(8 * ndf, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@dataclass
class PretrainedGGANConfig(GANConfig):
    steps: int = field(default=0, metadata={"derived": "pretrain_steps + gan_steps"})
    z_dim: int = 0  # deterministic generator: no noise
    n_down: int = 0  # stride-2 stages; 0: down to 8x8, where the residual blocks work (3 at 64 px)
    n_res: int = 3  # residual blocks at the bottom
    pretrain_steps: int = 0  # phase 1: G alone on L1 (the paper's 20 epochs at full)
    gan_steps: int = 0  # phase 2: G and D, GAN + lambda L1 (the paper's 100 epochs at full)
    select_every: int = 0  # GAN steps between held-out L1 measurements (0: keep the last model)

    def __post_init__(self):
        # `steps` is the total, derived so the record shows it; the phases' own fields
        # are what one sets (`from_profile` and --set refuse `steps`).
        self.steps = self.pretrain_steps + self.gan_steps


class PretrainedGGAN(GANColorizer):
    name = "pretrained_g_gan"
    version = "2"
    description = (
        "Residual U-Net (additive skips) pre-trained on L1, then GAN + 100 L1 against a patch discriminator on L and ab, "
        "in [0, 1] Lab; the model with the lowest held-out L1 is kept"
    )
    paper = (
        'Zhu (no year): Zhiyuan Zhu, "Colorization Black and White Images with GAN", Zhejiang University, n.d. '
        "(sections 3.1-3.3: residual U-Net, patch discriminator, Eqs. 1-2; 4.2: Adam 2e-4, batch 6 x 16, "
        "20 L1 + 100 GAN epochs, the lowest-L1 model)"
    )
    Config = PretrainedGGANConfig
    stochastic = False
    profiles = {
        "smoke": dict(pretrain_steps=1, gan_steps=5, batch_size=4, select_every=2),
        "quick": dict(pretrain_steps=60, gan_steps=300, batch_size=16, select_every=50),
        "full": dict(
            pretrain_steps=20 * FULL_EPOCH, gan_steps=100 * FULL_EPOCH, batch_size=FULL_BATCH, select_every=FULL_EPOCH
        ),
    }
    d_channels = 3  # L and ab

    def build_generator(self):
        c = self.config
        if c.z_dim:
            raise ValueError(f"{self.name} has a deterministic generator: z_dim must be 0, got {c.z_dim}")
        n_down = c.n_down or max(1, int(math.log2(self.size // 8)))
        return ResidualUNet(size=self.size, ngf=c.ngf, n_down=n_down, n_res=c.n_res)

    def build(self):
        return {"G": self.build_generator(), "D": Discriminator(in_channels=self.d_channels, size=self.size, ndf=self.config.ndf)}

    def optimizers(self):
        c = self.config
        # The pretraining is a training of its own: the GAN phase's Adam for G starts afresh.
        pretrain = torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        return {**super().optimizers(), "G_pretrain": pretrain}

    def code(self, L, ab_hint, noise):
        return None

    def d_input(self, L, ab):
        return torch.cat([L, ab], dim=1)  # both on the [0, 1] scale

    def phases(self):
        c = self.config
        pretrain = Phase("pretrain_L1", c.pretrain_steps, [Update("G_pretrain", self.l1_loss)], shared=self.generate, selectable=False)
        return [pretrain, self.gan_phase("gan", c.gan_steps)]

    def generate(self, L, ab):
        """The shared losses, on the paper's [0, 1] scale: their L1 is then the paper's."""
        L, ab = to_unit(L), to_unit(ab)
        return {"L": L, "ab": ab, **super().generate(L, ab)}

    def d_loss(self, L, ab, fake):
        """Eq. (1): the cross-entropy of D on real and on generated ab, summed."""
        D = self.nets["D"]
        loss = gan_loss(D(self.d_input(L, ab)), True) + gan_loss(D(self.d_input(L, fake.detach())), False)
        return loss, {"D": loss}

    def selection_loss(self, L, ab, noise):
        """L1 of G's ab against the true ab, on the paper's [0, 1] scale (Zhu 4.2: the model with the lowest L1 error)."""
        return F.l1_loss(self.nets["G"](to_unit(L)), to_unit(ab))

    def predict(self, L, noise, reference=None):
        return from_unit(super().predict(to_unit(L), noise))


@colorbench.hookimpl
def register_colorizers(register):
    register(PretrainedGGAN)
