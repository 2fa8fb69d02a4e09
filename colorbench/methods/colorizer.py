"""The interface every colourization method implements.

A method sees only normalised Lab tensors (`colorbench.lab`): ``L`` of shape
(B, 1, H, W) in [-1, 1] in, ``ab`` of shape (B, 2, H, W) in [-1, 1] out. Turning
images into those tensors and back, and scoring, is the core's job, so every
method is measured the same way.

To add a method: subclass `Colorizer`, give it a `Config` dataclass whose
defaults come from its paper, the `profiles` that scale its training, `build`,
its losses and `predict`; then register the class with the
``register_colorizers`` hook (see plugins/unet_cgan.py). A method declares what
one training step minimises (`Phase`, `Update`) and which optimisers do it
(`optimizers`); `colorbench.training.trainer.Trainer` does the optimisation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from colorbench.weights.published import PublishedWeights

PROFILES = ("smoke", "quick", "full")
"""smoke: seconds, for tests; quick: minutes on a laptop CPU (the default);
full: the scale of the method's paper, for a GPU."""


@dataclass
class TrainConfig:
    """What every method's config has; subclasses add their hyperparameters."""

    steps: int = 0  # optimiser steps (0: nothing to train)
    batch_size: int = 16
    # A config that computes a field from others marks it, and the user is told
    # to set those instead: field(default=0, metadata={"derived": "a + b"}).
    # A method that picks its model on held-out training images adds
    # ``select_every: int`` (steps; 0: off) and defines `Colorizer.selection_loss`.


Loss = Callable[..., "torch.Tensor | tuple[torch.Tensor, dict[str, Any]]"]
"""``loss(L=..., ab=..., **shared) -> loss`` or ``(loss, {name: term to log})``;
a bare loss is logged as "loss"."""


@dataclass
class Update:
    """One optimiser step of a training step: ``optimizer`` (a name from
    `Colorizer.optimizers`; None: the method's only one) minimises ``loss``."""

    optimizer: str | None
    loss: Loss


@dataclass
class Phase:
    """A stretch of training with its own step (NoGAN pre-training, an L1 warm-up...).

    Each step runs ``updates`` in order, each a loss, then its optimiser's step;
    a later update sees the weights an earlier one changed (a GAN: D, then G).
    ``shared(L, ab)``, if given, runs once per step before them: what it returns
    (G's output, say) is passed to every loss by keyword, with ``L`` and ``ab``
    unless it returns those too (the same batch on another scale).

    ``selectable``: whether held-out model selection may keep a model of this
    phase (an L1 warm-up's may not be the model a paper evaluates)."""

    name: str
    steps: int
    updates: list[Update]
    shared: Callable[[torch.Tensor, torch.Tensor], dict[str, Any]] | None = None
    selectable: bool = True


class Colorizer:
    """Base class of a method: train on L -> ab, colourize, save and load."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line
    paper: ClassVar[str]  # the paper it implements (authors, title, year), with sections
    stochastic: ClassVar[bool] = False  # samples differ for different noise
    hint: ClassVar[str | None] = None  # what it needs besides L at test time, e.g. a reference image
    version: ClassVar[str] = "1"  # bump on any change that moves its numbers
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    profiles: ClassVar[dict[str, dict]] = {}  # profile name -> Config overrides
    # name -> trained weights `run` can load instead of training (the first is the default;
    # a method that trains nothing runs from it): colorbench.weights.published
    published_weights: ClassVar[dict[str, PublishedWeights]] = {}

    def __init__(self, config: TrainConfig | None = None, *, size: int):
        self.config = config if config is not None else self.Config()
        self.size = size  # the working size (square) it is trained and run at
        self.nets = nn.ModuleDict(self.build())
        self.device = torch.device("cpu")

    @classmethod
    def parse_overrides(cls, pairs: list[str]) -> dict:
        """["l1_weight=50", "pretrain_betas=0.5,0.9"] -> overrides of `Config` fields,
        each parsed by its declared type (`colorbench.methods.settings`); UsageError, naming
        the setting and what it takes, for anything that cannot be set so."""
        from colorbench.methods import settings
        from colorbench.errors import UsageError

        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        kinds, defaults = settings.declared_types(cls.Config), cls.Config()
        overrides = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            key = key.strip()
            if not sep or key not in fields:
                raise UsageError(f"--set {pair!r}: {cls.name} has no setting {key!r}; its settings: {', '.join(fields)}")
            cls._refuse_derived(fields[key], f"--set {pair!r}: ")
            kind = kinds[key]
            try:
                overrides[key] = settings.parse(text, kind)
            except ValueError:
                raise UsageError(
                    f"--set {pair!r}: {key} takes {settings.describe(kind)}, "
                    f"e.g. --set {key}={settings.example(getattr(defaults, key))}"
                ) from None
            except settings.Unsettable:
                raise UsageError(f"--set {pair!r}: {key} ({settings.describe(kind)}) cannot be set from the command line") from None
        return overrides

    @classmethod
    def _refuse_derived(cls, field: dataclasses.Field, prefix: str = "") -> None:
        from colorbench.methods import settings
        from colorbench.errors import UsageError

        if rule := settings.derived(field):
            raise UsageError(f"{prefix}{cls.name}'s {field.name} is derived ({rule}): set those")

    @classmethod
    def from_profile(cls, profile: str, *, size: int, **overrides) -> Colorizer:
        """The method with a profile's config, ``overrides`` on top. Overrides are
        checked against the config's declared types (finite numbers only); one the
        method cannot be built with is a UsageError, as is an unknown profile."""
        from colorbench.methods import settings
        from colorbench.errors import UsageError, unknown_name

        if profile not in (cls.profiles or PROFILES):
            raise unknown_name("profile", profile, cls.profiles or PROFILES)
        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        kinds, checked = settings.declared_types(cls.Config), {}
        for key, value in overrides.items():
            if key not in fields:
                raise UsageError(f"{cls.name} has no setting {key!r}; its settings: {', '.join(fields)}")
            cls._refuse_derived(fields[key])
            try:
                checked[key] = settings.check(value, kinds[key])
            except ValueError:
                raise UsageError(f"{cls.name}'s {key} takes {settings.describe(kinds[key])}, not {value!r}") from None
            except settings.Unsettable:
                checked[key] = value  # a type this module does not know: the method's own concern
        try:
            config = dataclasses.replace(cls.Config(), **{**cls.profiles.get(profile, {}), **checked})
            return cls(config, size=size)
        except Exception as e:  # with settings given, they made a network that cannot exist
            if not checked:
                raise
            raise UsageError(f"{cls.name} cannot be built at {size}x{size} with {settings.shown(checked)}: {settings.reason(e)}") from None

    # ------------------------------------------------------------ to override
    def build(self) -> dict[str, nn.Module]:
        """The networks, by name; their weights are what a checkpoint holds."""
        return {}

    def prepare_training(self, data: torch.utils.data.Dataset) -> None:
        """Called once before training, on `device`, with the training items (RGB
        (3, S, S) in [0, 1]): make loss networks (VGG...), measure dataset statistics.
        Keep them as attributes, not in `nets`: checkpoints hold `nets` alone."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers, by name, over the weights in `nets`; made afresh for each
        training. By default one Adam over every network, at the config's ``lr``
        if it has one, else 1e-3."""
        return {"main": torch.optim.Adam(self.nets.parameters(), lr=getattr(self.config, "lr", 1e-3))}

    def schedulers(self, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """Learning-rate schedulers by the name of the optimiser each drives,
        stepped after each of its steps. None by default."""
        return {}

    def phases(self) -> list[Phase]:
        """The training schedule: by default one phase, ``steps`` long, in which the
        only optimiser minimises `loss`."""
        return [Phase("train", self.config.steps, [Update(None, self.loss)])]

    def loss(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
        """What the default phase minimises on a batch: the loss, or (loss, {name: term to log})."""
        old_api = " (its train_step is the old API: see CONTRIBUTING.md, Add a method)" if hasattr(self, "train_step") else ""
        raise NotImplementedError(f"{self.name} has no loss{old_api}")

    def predict(self, L: torch.Tensor, noise: torch.Generator, reference: torch.Tensor | None = None) -> torch.Tensor:
        """ab for a batch of L, in eval mode and without gradients. A stochastic
        method draws its noise from ``noise``, so samples are reproducible; a
        method with a `hint` gets the reference's normalised ab (B, 2, h, w)."""
        raise NotImplementedError

    def predict_rgb(self, L: torch.Tensor, noise: torch.Generator, reference: torch.Tensor | None = None) -> torch.Tensor | None:
        """A method whose network reconstructs RGB itself (Wan 2019): that sRGB in
        [0, 1], (B, 3, H, W), drawn as `predict`'s first call with the same ``noise``.
        Evaluation scores it beside the contract's (its ab joined with the input's L).
        None, the default, for a method that predicts ab."""
        return None

    def selection_loss(self, L: torch.Tensor, ab: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        """Held-out model selection's criterion, for a method whose config has
        ``select_every`` > 0: a batch's mean loss (lower is better); the first line of
        its docstring names it in the result. Called in eval mode without gradients;
        a stochastic method draws from ``noise``, the same at every evaluation. The
        Trainer keeps the model that scores lowest on the held-out items
        (`colorbench.training.selection`)."""
        raise NotImplementedError

    # ------------------------------------------------------------ provided
    @property
    def trainable(self) -> bool:
        return any(p.steps > 0 for p in self.phases()) and any(True for _ in self.nets.parameters())

    def to(self, device: torch.device) -> Colorizer:
        self.nets.to(device)
        self.device = torch.device(device)
        return self

    @torch.no_grad()
    def colorize(
        self, L: torch.Tensor, *, n_samples: int = 1, seed: int = 0, reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ab samples for a batch of L: shape (n_samples, B, 2, H, W).

        A deterministic method returns the same prediction ``n_samples`` times.
        ``reference`` (normalised ab) is required by, and only passed to, a method
        with a `hint`."""
        if self.hint and reference is None:
            raise ValueError(f"{self.name} needs a reference ({self.hint})")
        self.nets.eval()
        from colorbench.errors import UserError

        def checked(ab) -> torch.Tensor:
            """predict's result if it is ab for each L: a floating (B, 2, H, W) tensor on
            L's device. A plugin's slip is named here, not as a broadcasting error in scoring."""
            said, contract = f"method {self.name}'s predict returned", "ab for each L (see CONTRIBUTING.md)"
            expected = (len(L), 2, *L.shape[2:])
            if not isinstance(ab, torch.Tensor):
                raise UserError(f"{said} a {type(ab).__name__}; expected a floating tensor of shape {expected}: {contract}")
            if tuple(ab.shape) != expected:
                raise UserError(f"{said} shape {tuple(ab.shape)}; expected {expected}: {contract}")
            if not ab.is_floating_point():
                raise UserError(f"{said} a {ab.dtype} tensor; expected a floating one: {contract}")
            if ab.device != L.device:
                raise UserError(f"{said} a tensor on {ab.device}; expected one on L's device, {L.device}: {contract}")
            return ab

        noise = torch.Generator(device=L.device).manual_seed(seed)
        hints = {"reference": reference} if self.hint else {}
        if self.stochastic:
            ab = torch.stack([checked(self.predict(L, noise, **hints)) for _ in range(n_samples)])
        else:
            ab = checked(self.predict(L, noise, **hints)).unsqueeze(0)
        if not torch.isfinite(ab).all():  # damaged weights: never a black image passed off as colours
            raise UserError(f"{self.name} predicted non-finite colours (NaN or infinity): its weights are damaged or its training diverged")
        return ab if self.stochastic else ab.expand(n_samples, -1, -1, -1, -1)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.nets.parameters())
