"""Reading image files, the one place that knows what can go wrong with them.

Convertible images become 8-bit RGB the right way: grayscale and bilevel are
replicated, 16-bit is scaled (not clipped) to 8 bits, CMYK is converted,
transparency (RGBA, LA, palette with alpha) is composited over white as a viewer
shows it, and EXIF orientation is applied. Everything else (empty, truncated or
non-image files, images over PIL's decompression-bomb limit) raises
`UnreadableImage` with the reason, so a dataset can list them before training.
"""

from __future__ import annotations

import stat
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class UnreadableImage(Exception):
    """An image file that cannot be turned into RGB; ``str()`` is the reason."""


@contextmanager
def _opened(path: Path):
    """PIL's image of ``path``, its header read; every way the file can fail, here
    or while the caller decodes it, is `UnreadableImage` with the reason."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a pipe would block the read, a folder fail it
            raise UnreadableImage("not a regular file")
        if info.st_size == 0:
            raise UnreadableImage("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(
            f"larger than PIL's decompression-bomb limit ({Image.MAX_IMAGE_PIXELS:,} pixels); "
            "raise PIL.Image.MAX_IMAGE_PIXELS only if you trust the file"
        ) from None
    except UnidentifiedImageError:
        raise UnreadableImage("not an image PIL can read") from None
    except FileNotFoundError:
        raise UnreadableImage("no such file") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated data, bad chunks, bad headers
        raise UnreadableImage(f"damaged image ({e})") from None


def load_rgb(path: Path, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as a uint8 RGB array (H, W, 3). ``size``: the (width, height)
    the file must have, checked from its header before anything is decoded."""
    from PIL import ImageOps

    with _opened(path) as im:
        if size is not None and im.size != tuple(size):
            raise UnreadableImage(f"{im.size[0]}x{im.size[1]} pixels, not the {size[0]}x{size[1]} expected")
        im.load()
        return _to_rgb(ImageOps.exif_transpose(im))


def load_exactly(path: Path, *, format: str, mode: str, size: tuple[int, int]) -> np.ndarray:
    """The pixels of a file that must be a ``format`` image of PIL ``mode`` and
    (width, height) ``size``, as they are: a copy of a dataset's own files, which
    any conversion would change. Checked from the header before decoding."""
    with _opened(path) as im:
        if (im.format, im.mode, im.size) != (format, mode, tuple(size)):
            raise UnreadableImage(
                f"a {im.format} {im.mode} image of {im.size[0]}x{im.size[1]}, not a {format} {mode} image of {size[0]}x{size[1]}"
            )
        im.load()
        return np.array(im)


def _to_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grayscale: scale to 8 bits, never clip
        values = np.asarray(im, dtype=np.float64)
        scale = 65535.0 if im.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(np.rint(values * (255.0 / scale)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.isfinite(values).all():  # NaN would turn the whole image black (its max is NaN)
            raise UnreadableImage("floating-point pixels that are NaN or infinite")
        gray = np.clip(np.rint(values * (255.0 if values.max() <= 1 else 1.0)), 0, 255)
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im.convert("RGBA"))
    return np.array(im.convert("RGB"))


def scan(paths: list[Path]) -> tuple[dict[Path, int], list[str]]:
    """Decode every file once, up front: ({readable path: its shorter side},
    "path: reason" for the rest). A header check alone would miss truncated
    files, which then fail mid-training."""
    good, bad = {}, []
    for path in paths:
        try:
            good[path] = min(load_rgb(path).shape[:2])
        except UnreadableImage as e:
            bad.append(f"{path}: {e}")
    return good, bad
