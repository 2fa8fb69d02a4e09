"""The test sets recent colourization papers report on, read from the user's own copy.

``imagenet:ctest10k``, ``imagenet:val5k``, ``imagenet:val50k``, ``coco:val2017`` and
``ade20k:val`` (``--data-dir``: nothing here downloads them; their terms ask each user to
get them from their publishers). A test set holds exactly its protocol's images (one
missing or extra is refused, named) made 256 x 256 as the code that defined the protocol
makes them, and is scored at that test size whatever the method's working size
(`Dataset.test_size`; how: `colorbench.scoring.evaluate`). A method that trains does so
on the matching training set (ImageNet train, COCO train2017, ADE20K training), streamed:
its files are listed once and a few decoded up front, the rest decoded as training draws
them. Registered through the ``register_datasets`` hook, as a third-party dataset plugin
would be. Long form: datasets/imagenet.md, coco.md, ade20k.md.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

import colorbench
from colorbench.data.datasets import (
    IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES, Dataset, NoTrainingImages, random_crop, shorter_side_to, to_float,
)
from colorbench.data.image_reading import UnreadableImage, load_rgb
from colorbench.errors import UsageError, UserError

TEST_SIZE = 256  # every protocol here scores 256 x 256 images
DEFAULT_SIZE = 64  # the working size without --size: minutes on a CPU; --size 256 for a paper's scale
CHECKED_UP_FRONT = 8  # training images decoded when the dataset loads (evenly spread): a wrong folder fails now
_SUFFIXES = IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES


# ------------------------------------------------------------------ preprocessing
@dataclass(frozen=True)
class Rule:
    """How a protocol makes its 256 x 256 test images, and the code it follows."""

    text: str
    source: str
    apply: Callable[[np.ndarray], torch.Tensor]  # uint8 RGB (H, W, 3) -> float RGB (3, 256, 256) in [0, 1]


def _pil_bilinear(rgb: np.ndarray, *, crop: bool) -> torch.Tensor:
    """torchvision's CenterCrop / Resize on a PIL image, as the reference code calls them:
    PIL's bilinear filter (antialiased when it shrinks), on 8 bits."""
    from PIL import Image
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    image = Image.fromarray(rgb)
    if crop:
        image = F.center_crop(image, [min(image.size)])
    return to_float(F.resize(image, [TEST_SIZE, TEST_SIZE], interpolation=InterpolationMode.BILINEAR))


def _opencv_bilinear(rgb: np.ndarray) -> torch.Tensor:
    """cv2.resize(float RGB, (256, 256)) with its default INTER_LINEAR: bilinear with
    half-pixel centres and no antialiasing. torch's interpolate is the same formula; it
    differs from OpenCV's by at most one float32 ulp (measured: about 1 in 10,000 8-bit
    values one level apart), so OpenCV is not a dependency."""
    image = to_float(rgb)[None]
    return torch.nn.functional.interpolate(image, size=(TEST_SIZE, TEST_SIZE), mode="bilinear", align_corners=False, antialias=False)[0]


CT2_RULE = Rule(
    "centre crop to the shorter side, then resized to 256 x 256 with PIL's bilinear filter on 8 bits (antialiased): "
    "torchvision CenterCrop(min(w, h)) and Resize(256) on the PIL image",
    "Weng, Sun, Li, Li and Shi, CT2: Colorization Transformer via Color Tokens, ECCV 2022: its test loader, "
    "github.com/shuchenweng/CT2 segm/data/coco.py (COCODataset.get_img, split 'val')",
    partial(_pil_bilinear, crop=True),
)
ZHANG_RULE = Rule(
    "resized to 256 x 256 (aspect ratio not kept) with PIL's bilinear filter on 8 bits (antialiased): torchvision Resize((256, 256)) on the PIL image",
    "Zhang, Zhu, Isola, Geng, Lin, Yu and Efros, Real-Time User-Guided Image Colorization with Learned Deep Priors, "
    "SIGGRAPH 2017: its test code, github.com/richzhang/colorization-pytorch test_sweep.py (the test phase, ctest10k)",
    partial(_pil_bilinear, crop=False),
)
DDCOLOR_RULE = Rule(
    "resized to 256 x 256 (aspect ratio not kept), bilinear without antialiasing on float RGB, as OpenCV's "
    "cv2.resize(img, (256, 256)) with its default INTER_LINEAR (here torch's interpolate, equal to it within one float32 ulp)",
    "Kang, Yang, Ouyang, Ren, Li and Xie, DDColor: Towards Photo-Realistic Image Colorization via Dual Decoders, ICCV 2023: "
    "its validation loader, github.com/piddnad/DDColor basicsr/data/lab_dataset.py (LabDataset.__getitem__); "
    "which sets are resized and which centre-cropped, as its authors state in that repository's issue #9",
    _opencv_bilinear,
)


# ------------------------------------------------------------------ the sets
@dataclass(frozen=True)
class Source:
    """One dataset as its publisher distributes it, and where its folders usually lie."""

    title: str
    get_it: str  # where a user gets it: nothing here downloads it
    layouts: tuple[tuple[str, str], ...]  # (test folder, training folder) relative to --data-dir
    train_holds: str  # the full training set: what its folder holds


@dataclass(frozen=True)
class Protocol:
    name: str  # imagenet:val5k
    source: Source
    split: str  # what the card says of the test images
    pattern: str  # a file name of the test folder that is one of the dataset's images (group 1: its number)
    numbers: range | None  # the valid numbers of such names; None: any
    wanted: Callable[[], list[str]] | None  # the test images' file names; None: any `count` valid ones
    count: int
    rule: Rule
    defined_by: str


IMAGENET = Source(
    "ImageNet ILSVRC2012 (Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 2015)",
    "get ILSVRC2012_img_val.tar (and ILSVRC2012_img_train.tar to train) at https://image-net.org/download-images "
    "after registering; its terms allow non-commercial research use",
    (("val", "train"), ("ILSVRC/Data/CLS-LOC/val", "ILSVRC/Data/CLS-LOC/train")),
    "ImageNet train: 1,281,167 images in 1,000 class folders (train/n01440764/n01440764_10026.JPEG...)",
)
COCO = Source(
    "COCO 2017 (Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014), the images COCO-Stuff annotates",
    "get val2017.zip (and train2017.zip to train) at https://cocodataset.org/#download; images under their Flickr licences",
    (("val2017", "train2017"), ("images/val2017", "images/train2017")),
    "COCO train2017: 118,287 images (train2017/000000000009.jpg...)",
)
ADE20K = Source(
    "ADE20K, the scene-parsing benchmark's release (Zhou et al., Scene Parsing through ADE20K Dataset, CVPR 2017)",
    "get ADEChallengeData2016.zip at http://sceneparsing.csail.mit.edu; its terms allow non-commercial research use",
    (("ADEChallengeData2016/images/validation", "ADEChallengeData2016/images/training"), ("images/validation", "images/training")),
    "ADE20K training: 20,210 images (images/training/ADE_train_00000001.jpg...)",
)

_VAL = r"ILSVRC2012_val_(\d{8})\.JPEG"


def _ctest10k() -> list[str]:
    return [line for line in _ctest10k_text().splitlines() if line and not line.startswith("#")]


def _ctest10k_text() -> str:
    return resources.files("colorbench.data").joinpath("lists", "imagenet_ctest10k.txt").read_text(encoding="utf-8")


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol(
            "imagenet:ctest10k", IMAGENET, "ctest10k: the 10,000 validation images of the colourization test set of "
            "Larsson, Maire and Shakhnarovich (ECCV 2016), also Zhang et al.'s (2017), listed in colorbench/data/lists/imagenet_ctest10k.txt",
            _VAL, range(1, 50_001), _ctest10k, 10_000, ZHANG_RULE,
            "Larsson, Maire and Shakhnarovich, Learning Representations for Automatic Colorization, ECCV 2016; the list is "
            "resources/ilsvrclin12_val_inds.npy of github.com/richzhang/colorization-pytorch (0-based indices, file number = index + 1)",
        ),
        Protocol(
            "imagenet:val5k", IMAGENET, "val5k: the first 5,000 validation images, ILSVRC2012_val_00000001.JPEG to ILSVRC2012_val_00005000.JPEG",
            _VAL, range(1, 50_001), lambda: [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 5_001)], 5_000, CT2_RULE,
            "Kumar, Weissenborn and Kalchbrenner, Colorization Transformer, ICLR 2021 (the first 5,000); its preprocessing: CT2 (ECCV 2022); "
            "used by CT2 and DDColor (ICCV 2023)",
        ),
        Protocol(
            "imagenet:val50k", IMAGENET, "val50k: all 50,000 validation images",
            _VAL, range(1, 50_001), lambda: [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 50_001)], 50_000, DDCOLOR_RULE,
            "as used by ColorFormer (Ji et al., ECCV 2022), BigColor (Kim et al., ECCV 2022) and DDColor (ICCV 2023)",
        ),
        Protocol(
            "coco:val2017", COCO, "val2017: the 5,000 COCO 2017 validation images (COCO-Stuff's validation set); checked by their "
            "count and file names (12-digit image ids), as no list of them ships with colorbench",
            r"(\d{12})\.jpg", None, None, 5_000, DDCOLOR_RULE,
            "as used by ColorFormer (Ji et al., ECCV 2022) and DDColor (ICCV 2023)",
        ),
        Protocol(
            "ade20k:val", ADE20K, "val: the 2,000 validation images, ADE_val_00000001.jpg to ADE_val_00002000.jpg",
            r"ADE_val_(\d{8})\.jpg", range(1, 2_001), lambda: [f"ADE_val_{i:08d}.jpg" for i in range(1, 2_001)], 2_000, DDCOLOR_RULE,
            "as used by DDColor (ICCV 2023)",
        ),
    )
}


# ------------------------------------------------------------------ listing
def image_paths(folder: Path, *, depth: int = 1) -> list[str]:
    """The image files (by suffix) in ``folder`` and ``depth`` levels of its subfolders,
    as relative POSIX paths in the order the file system gives them. One ``os.scandir``
    per folder and its entries' d_type: no stat per file (1.28M names list in seconds)."""
    found: list[str] = []

    def scan(path: str, prefix: str, levels: int) -> None:
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    name = entry.name
                    if name[name.rfind(".") :].lower() in _SUFFIXES:  # no os.path call per file: a third of the time
                        if entry.is_file():
                            found.append(prefix + name)
                    elif levels and entry.is_dir():
                        scan(entry.path, f"{prefix}{name}/", levels - 1)
        except OSError as e:
            raise UserError(f"{path}: folder cannot be listed ({e.strerror})") from None

    scan(str(folder), "", depth)
    return found


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" (and {len(names) - n:,} more)" if len(names) > n else "")


def _locate(p: Protocol, data_dir: Path | None) -> tuple[Path, Path | None]:
    """(the test folder, the training folder or None) in ``data_dir``, laid out as the
    dataset is distributed, or ``data_dir`` the test folder itself."""
    how = f"{p.name} reads your own copy of {p.source.title.split(' (')[0]}; colorbench does not download it: {p.source.get_it}"
    if data_dir is None:
        raise UsageError(f"--data-dir is needed: {how}")
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a folder; {how}")
    for test, train in p.source.layouts:
        if (data_dir / test).is_dir():
            return data_dir / test, data_dir / train
    if any(re.fullmatch(p.pattern, Path(name).name) for name in image_paths(data_dir)):  # the test folder itself
        test_name, train_name = (Path(folder).name for folder in p.source.layouts[0])  # val, train
        return data_dir, data_dir.parent / train_name if data_dir.name == test_name else None
    expected = " or ".join(f"{data_dir / test}/" for test, _ in p.source.layouts)
    raise UserError(f"{data_dir} holds no {p.name} test images: expected {expected} (or --data-dir naming that folder itself); {how}")


def test_files(p: Protocol, folder: Path) -> list[Path]:
    """The protocol's test images in ``folder`` (flat, or one level of subfolders such as
    ImageNet's class folders), in the protocol's order; a `UserError` naming what is
    missing, extra (an image that is not one of the dataset's) or there twice."""
    by_name: dict[str, list[str]] = {}
    extra = []
    for relative in image_paths(folder):
        name = relative.rsplit("/", 1)[-1]
        match = re.fullmatch(p.pattern, name)
        if match and (p.numbers is None or int(match[1]) in p.numbers):
            by_name.setdefault(name, []).append(relative)
        else:
            extra.append(relative)
    if not by_name:
        raise UserError(f"{folder} holds no {p.name} test images (file names like {p.wanted()[0] if p.wanted else '000000000139.jpg'})")
    if twice := sorted(n for n, places in by_name.items() if len(places) > 1):
        raise UserError(f"{len(twice):,} test image(s) of {p.name} are in {folder} twice: {twice[0]} as {' and '.join(sorted(by_name[twice[0]]))}; keep one copy")
    if extra:
        raise UserError(
            f"{len(extra):,} file(s) in {folder} are no images of {p.source.title.split(' (')[0]}'s split: {_few(sorted(extra))}; move them out"
        )
    if p.wanted is None:  # only the count is known
        if len(by_name) != p.count:
            raise UserError(
                f"{folder} holds {len(by_name):,} images, not the {p.count:,} of {p.name} "
                f"({'some are missing' if len(by_name) < p.count else 'some are not its own'}; check them against the dataset's annotation files)"
            )
        return [folder / by_name[n][0] for n in sorted(by_name)]
    wanted = p.wanted()
    if missing := [n for n in wanted if n not in by_name]:
        raise UserError(f"{len(missing):,} of the {len(wanted):,} test images of {p.name} are missing from {folder}: {_few(missing)}; restore them from your copy")
    return [folder / by_name[n][0] for n in wanted]


# ------------------------------------------------------------------ the two splits
class ProtocolImages(TorchDataset):
    """Test images decoded on demand, made 256 x 256 by the protocol's rule; their id is
    the file name the protocol gives them (the same in any layout)."""

    def __init__(self, paths: list[Path], rule: Rule, name: str):
        self.paths, self.rule, self.name = paths, rule, name

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        try:
            rgb = load_rgb(path)
        except UnreadableImage as e:
            raise UserError(f"{path}: {e}: a test image of {self.name}; restore it from your copy") from None
        return self.rule.apply(rgb), path.name


class UnreadableTrainingImage(UserError):
    """A training image that fails to decode as training draws it. Raised in a DataLoader
    worker, torch re-raises it with "Caught ... Original Traceback ..." as its message:
    the last line, which says what, is kept."""

    def __init__(self, message: str):
        if message.startswith("Caught ") and "Traceback" in message:
            message = message.rstrip().splitlines()[-1].split(": ", 1)[-1]
        super().__init__(message)


class StreamedImages(TorchDataset):
    """A training set decoded from disk as training draws it, never all up front: each
    image resized (antialiased bilinear) so its shorter side is S, then a random S x S
    crop, flipped half of the time (as `colorbench.data.datasets.ImageFiles`). Paths are
    held in one numpy byte array, not a list of strings: DataLoader workers then share
    its pages instead of copying them as they touch each string's reference count."""

    def __init__(self, root: Path, files: list[str], size: int, name: str):
        self.root, self.size, self.name = root, size, name
        self.files = np.array(sorted(files), dtype=np.bytes_)

    def __len__(self):
        return len(self.files)

    def path(self, i: int) -> Path:
        return self.root / self.files[i].decode()

    def __getitem__(self, i):
        try:
            rgb = load_rgb(self.path(i))
        except UnreadableImage as e:
            raise UnreadableTrainingImage(
                f"{self.path(i)}: {e}: a training image of {self.name} that cannot be read; "
                "restore it from your copy, then --resume continues the run from its last saved state"
            ) from None
        return random_crop(shorter_side_to(to_float(rgb), self.size), self.size)


def training_set(p: Protocol, folder: Path | None, size: int):
    """The training set streamed from ``folder``, or `NoTrainingImages` saying why there is
    none (scoring needs none; a method that trains is then refused, told why)."""
    if folder is None or not folder.is_dir():
        where = f"no {folder}" if folder is not None else "no training folder beside the test folder"
        return NoTrainingImages(f"{where}; {p.source.get_it}")
    files = image_paths(folder)
    if not files:
        return NoTrainingImages(f"{folder} holds no images (it should hold {p.source.train_holds})")
    streamed = StreamedImages(folder, files, size, p.name.split(":")[0])
    for i in np.linspace(0, len(streamed) - 1, min(len(streamed), CHECKED_UP_FRONT)).round().astype(int):
        try:
            load_rgb(streamed.path(int(i)))
        except UnreadableImage as e:
            return NoTrainingImages(f"{streamed.path(int(i))}, one of {CHECKED_UP_FRONT} training images read up front, cannot be read ({e})")
    return streamed


# ------------------------------------------------------------------ the factories
def _load(p: Protocol, *, size: int | None, data_dir: Path | None) -> Dataset:
    if size is not None and size > TEST_SIZE:
        raise UsageError(f"--size {size} is larger than {p.name}'s {TEST_SIZE} x {TEST_SIZE} test images; use --size {TEST_SIZE} or less")
    size = size or DEFAULT_SIZE
    test_folder, train_folder = _locate(p, data_dir)
    test = ProtocolImages(test_files(p, test_folder), p.rule, p.name)
    train = training_set(p, train_folder, size)
    card = {
        "source": f"{p.source.title}: the user's own copy (--data-dir); not downloaded by colorbench: {p.source.get_it}",
        "split": p.split,
        "protocol": p.defined_by,
        **({"test_list_sha256": hashlib.sha256(_ctest10k_text().encode()).hexdigest()} if p.name == "imagenet:ctest10k" else {}),
        "test_count": len(test),
        "test_size": TEST_SIZE,
        "preprocessing": f"test images: {p.rule.text}; then quantised to 8-bit sRGB, as every ground truth",
        "preprocessing_source": p.rule.source,
        "evaluation": f"at {TEST_SIZE} x {TEST_SIZE}, whatever the working size (colorbench.scoring.evaluate, full resolution)",
        "train": f"{len(train):,} images found (the full set: {p.source.train_holds})" if len(train) else f"none: {train.reason}",
        "train_count": len(train),
        "train_crops": f"each training image resized (antialiased bilinear) so its shorter side is {size}, "
        f"a random {size}x{size} crop with a random horizontal flip, decoded from disk as training draws it",
        "unreadable_training_images": f"listed once and {CHECKED_UP_FRONT} decoded up front, not all: one that cannot be decoded "
        "as training reads it stops the run, naming it; restore it and --resume continues from the last saved state",
    }
    return Dataset(p.name, size, train, test, card, test_size=TEST_SIZE)


def _factory(family: str) -> Callable:
    splits = sorted(n.split(":")[1] for n in PROTOCOLS if n.startswith(family + ":"))

    def factory(arg: str | None, *, size: int | None, data_dir: Path | None, seed: int) -> Dataset:
        if arg not in splits:
            raise UsageError(f"{family} needs a test set: " + " or ".join(f"--dataset {family}:{s}" for s in splits) + (f" (not {family}:{arg})" if arg else ""))
        return _load(PROTOCOLS[f"{family}:{arg}"], size=size, data_dir=data_dir)

    return factory


@colorbench.hookimpl
def register_datasets(register: Callable) -> None:
    register("imagenet", _factory("imagenet"), "ImageNet val, your own copy (--data-dir): imagenet:ctest10k, imagenet:val5k or imagenet:val50k, at 256 px; trains on ImageNet train")
    register("coco", _factory("coco"), "COCO 2017 val (COCO-Stuff's), your own copy (--data-dir): coco:val2017, at 256 px; trains on train2017")
    register("ade20k", _factory("ade20k"), "ADE20K val, your own copy (--data-dir): ade20k:val, at 256 px; trains on its training images")
