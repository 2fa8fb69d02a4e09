"""Every file a command writes for the user goes through here, so that none of the
user's files is ever overwritten, shadowed or left half-written.

A command checks its outputs before any work starts (a folder that is a file, that
cannot be created or written, or that overlaps an input; two inputs that would
share an output; a file that already exists) and fails with one line, having
written nothing. The files themselves are then written atomically.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from pathlib import Path

from colorbench.errors import UsageError, UserError
from colorbench.files import write_atomic

NAMING_RULE = (
    "Each image keeps its path relative to its argument, with the suffix .png (cat/1.jpg -> cat/1.png). "
    "When images would share a name (1.jpg beside 1.png), the one already so named keeps it and each other "
    "adds .png to its whole name (1.jpg.png); names differing only in case count as one. "
    "Two images that would still share a name (a/x.png and b/x.png as arguments) are refused, naming both."
)


def png_names(found: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """(input file, its path relative to its argument) -> (input file, output name),
    one distinct name per input, by `NAMING_RULE`."""
    claims = Counter(_key(rel.with_suffix(".png")) for _, rel in found)
    named = []
    for source, rel in found:
        name = rel.with_suffix(".png")
        if claims[_key(name)] > 1 and name != rel:
            name = rel.with_name(rel.name + ".png")
        named.append((source, name))
    first: dict[str, Path] = {}
    for source, name in named:
        if _key(name) in first:
            raise UsageError(f"{first[_key(name)]} and {source} would both be written as {name}: rename one, or colourize them separately")
        first[_key(name)] = source
    return named


def _key(name: Path) -> str:
    # one file on macOS and Windows, so one name everywhere
    return name.as_posix().casefold()


def check_folder(folder: Path, flag: str = "--out") -> Path:
    """Refuse, before any work starts, an output folder that is a file or cannot be
    created or written."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"{flag} {folder} is a file, not a folder: name a folder")
    _check_writable(folder, f"{flag} {folder}")
    return folder


def check_file(path: Path, *, overwrite: bool, flag: str = "--out") -> Path:
    """Refuse, before any work starts, an output file that is a folder, already exists
    (unless ``overwrite``) or whose folder cannot be created or written."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder: name the file to write")
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"{flag} {path} already exists: pass --overwrite to replace it, or name another file")
    _check_writable(path.parent, f"{flag} {path}")
    return path


def plan(out: Path, named: list[tuple[Path, Path]], *, inputs: list[Path], overwrite: bool) -> list[tuple[Path, Path]]:
    """(input file, output name) -> (input file, output path in ``out``), once every
    check has passed: ``out`` is a writable folder that neither is, contains nor lies
    inside any of ``inputs`` or input files, and no output exists (unless
    ``overwrite``) or is a folder."""
    check_folder(out)
    inside = _Overlap([*inputs, *(source for source, _ in named)])
    inside.refuse(out)
    jobs = [(source, out / name) for source, name in named]
    for folder in sorted({path.parent for _, path in jobs} - {out}):
        inside.refuse(folder)  # a link in --out could lead back into an input
        _check_writable(folder, f"--out {out}")
    if folders := [path for _, path in jobs if path.is_dir()]:
        raise UserError(f"{folders[0]} is a folder where an output should go; nothing was written")
    if not overwrite and (existing := [path for _, path in jobs if os.path.lexists(path)]):
        shown = ", ".join(map(str, existing[:3])) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise UserError(f"{len(existing)} output(s) already exist ({shown}): pass --overwrite to replace them, or pick another --out")
    return jobs


class _Overlap:
    """Whether a folder is, contains or lies inside one of the inputs, by their real
    paths (symbolic links resolved)."""

    def __init__(self, inputs: list[Path]):
        self.inputs: dict[Path, Path] = {}  # real path -> the input as given (the first, an argument, names it)
        self.ancestors: dict[Path, Path] = {}
        for item in inputs:
            real = _real(item)
            self.inputs.setdefault(real, item)
            for parent in real.parents:
                self.ancestors.setdefault(parent, item)

    def refuse(self, folder: Path) -> None:
        real = _real(folder)
        if real in self.inputs:
            relation, item = "is", self.inputs[real]
        elif parent := next((p for p in real.parents if p in self.inputs), None):
            relation, item = "lies inside", self.inputs[parent]
        elif real in self.ancestors:
            relation, item = "contains", self.ancestors[real]
        else:
            return
        raise UsageError(f"--out {folder} {relation} the input {item}: name a folder outside every input, so no original is overwritten")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _check_writable(folder: Path, what: str) -> None:
    """The nearest existing folder of ``folder`` (itself, or where it would be created)
    must be a folder this process may write in."""
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if os.path.lexists(p))
    if not existing.is_dir():
        raise UsageError(f"{what}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what}: {existing} is not writable; pick another place")


def write(path: Path, data: bytes) -> Path:
    """Write one output atomically (a crash never leaves half of it); a failure no
    check could foresee, such as a full disk, names the file."""
    try:
        return write_atomic(path, data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    """Create the new folder ``root`` holding ``files`` (relative path -> bytes), all or
    nothing: they are written into a hidden folder beside it, which is then renamed."""
    root = Path(root)
    staging = root.with_name(f".{root.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        staging.mkdir(parents=True)
        for relative, data in files.items():
            write_atomic(staging / relative, data)
        if os.path.lexists(root):  # appeared meanwhile: never replace it
            raise UserError(f"{root} already exists; nothing was written")
        staging.rename(root)
    except OSError as e:
        raise UserError(f"cannot write {root}: {e.strerror or e}; nothing was written") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
