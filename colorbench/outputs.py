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
import tempfile
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


def check_folder(folder: Path, flag: str = "--out", *, subfolders: tuple[str, ...] = (), reads: dict[str, Path] | None = None) -> Path:
    """Refuse, before any work starts, an output folder that is a file or a broken
    link, that cannot be created or written, whose ``subfolders`` (where the
    command will write) are files, or that is or lies inside a folder the command
    reads (``reads``: {how the user named it: folder}), where its outputs would
    later be read as inputs."""
    folder = Path(folder)
    check_names([folder, *(folder / name for name in subfolders)], f"{flag} {folder}")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{flag} {folder} is {_not_a_folder(folder)}, not a folder: name a folder")
    for path in (folder / name for name in subfolders):
        if os.path.lexists(path) and not os.path.isdir(path):
            raise UsageError(f"{flag} {folder}: {path} is {_not_a_folder(path)} where a folder will be written; move it, or name another {flag}")
    _check_writable(folder, f"{flag} {folder}")
    for named, source in (reads or {}).items():
        for path in (folder, *(folder / name for name in subfolders)):  # a link there could lead into it
            if relation := _Overlap([source]).relation(_real(path), ("is", "lies inside")):
                raise UsageError(
                    f"{flag} {path} {relation[0]} {named}: what is written there would be read as input next time; "
                    f"name a folder outside it"
                )
    return folder


def check_file(path: Path, *, overwrite: bool, flag: str = "--out", inputs: list[Path] = ()) -> Path:
    """Refuse, before any work starts, an output file that is a folder, already exists
    (unless ``overwrite``), is or lies inside one of ``inputs`` (even with
    ``overwrite``), has a name too long, or whose folder cannot be created or written."""
    path = Path(path)
    check_names([path], f"{flag} {path}")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder: name the file to write")
    # written by renaming over it: a link there is replaced, never followed, so its folder is what counts
    if relation := _Overlap(list(inputs)).relation(_real(path.parent) / path.name):
        raise UsageError(f"{flag} {path} {relation[0]} the input {relation[1]}: name a file outside every input, so no input is overwritten")
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"{flag} {path} already exists: pass --overwrite to replace it, or name another file")
    _check_writable(path.parent, f"{flag} {path}")
    return path


def check_names(paths: list[Path], what: str) -> None:
    """Refuse paths the file system cannot hold: a name over its limit (255 bytes on
    most), or a whole path over its limit (4096 bytes on Linux)."""
    if not paths:
        return
    existing = _nearest_existing(Path(paths[0]))
    name_max, path_max = (_limit(existing, key, default) for key, default in (("PC_NAME_MAX", 255), ("PC_PATH_MAX", 4096)))
    for path in paths:
        if long := next((part for part in Path(path).parts if len(os.fsencode(part)) > name_max), None):
            raise UsageError(f"{what}: the name {long} is {len(os.fsencode(long))} bytes, more than the {name_max} a file name may have here; shorten it")
        if len(os.fsencode(os.path.abspath(path))) >= path_max:
            raise UsageError(f"{what}: {path} is longer than the {path_max} bytes a path may have here; pick a shorter place")


def _limit(folder: Path, key: str, default: int) -> int:
    try:
        return os.pathconf(folder, key)
    except (OSError, ValueError):
        return default


def plan(out: Path, named: list[tuple[Path, Path]], *, inputs: list[Path], overwrite: bool) -> list[tuple[Path, Path]]:
    """(input file, output name) -> (input file, output path in ``out``), once every
    check has passed: ``out`` is a writable folder that neither is, contains nor lies
    inside any of ``inputs`` or input files, and no output exists (unless
    ``overwrite``) or is a folder."""
    jobs = [(source, out / name) for source, name in named]
    check_names([path for _, path in jobs], f"--out {out}")
    check_folder(out)
    inside = _Overlap([*inputs, *(source for source, _ in named)])
    inside.refuse(out)
    for folder in sorted({path.parent for _, path in jobs} - {out}):
        inside.refuse(folder)  # a link in --out could lead back into an input
        _check_writable(folder, f"--out {out}")
    if folders := [path for _, path in jobs if os.path.isdir(path)]:
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

    def relation(self, real: Path, relations: tuple[str, ...] = ("is", "lies inside", "contains")) -> tuple[str, Path] | None:
        """How the real path ``real`` overlaps the inputs ("is", "lies inside" or
        "contains") and which input, among ``relations``; None when it does not."""
        if real in self.inputs:
            found = "is", self.inputs[real]
        elif parent := next((p for p in real.parents if p in self.inputs), None):
            found = "lies inside", self.inputs[parent]
        elif real in self.ancestors:
            found = "contains", self.ancestors[real]
        else:
            return None
        return found if found[0] in relations else None

    def refuse(self, folder: Path) -> None:
        if found := self.relation(_real(folder)):
            raise UsageError(f"--out {folder} {found[0]} the input {found[1]}: name a folder outside every input, so no original is overwritten")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _check_writable(folder: Path, what: str) -> None:
    """The nearest existing folder of ``folder`` (itself, or where it would be created)
    must be a folder this process may write in."""
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise UsageError(f"{what}: {existing} is {_not_a_folder(existing)}, so no folder can be made there")
    try:  # a real attempt, with no name (O_TMPFILE): os.access may say yes where a write fails (root squash, root without its capabilities)
        tempfile.TemporaryFile(dir=existing).close()
    except OSError:
        raise UserError(f"{what}: {existing} is not writable; pick another place") from None


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (Path(path).absolute(), *Path(path).absolute().parents) if os.path.lexists(p))


def _not_a_folder(path: Path) -> str:
    return "a broken link" if os.path.islink(path) and not os.path.exists(path) else "a file"


def write(path: Path, data: bytes) -> Path:
    """Write one output atomically (a crash never leaves half of it); a failure no
    check could foresee, such as a full disk, names the file."""
    try:
        return write_atomic(path, data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def write_folder(root: Path, files) -> Path:
    """Create the new folder ``root`` holding ``files`` ({relative path: bytes}, or
    (relative path, bytes) pairs made one at a time), all or nothing: they are written
    into a hidden folder beside it, which is then renamed."""
    root = Path(root)
    staging = root.with_name(f".colorbench-new.{uuid.uuid4().hex[:8]}.tmp")
    try:
        staging.mkdir(parents=True)
        for relative, data in files.items() if isinstance(files, dict) else files:
            write_atomic(staging / relative, data)
        if os.path.lexists(root):  # appeared meanwhile: never replace it
            raise UserError(f"{root} already exists; nothing was written")
        staging.rename(root)
    except OSError as e:
        raise UserError(f"cannot write {root}: {e.strerror or e}; nothing was written") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
