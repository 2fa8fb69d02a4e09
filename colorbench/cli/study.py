"""colorbench study: a human real-vs-fake study ("colorization Turing test") on a local web page."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, print_lines, stdout, use_json, warn
from colorbench.errors import UsageError

MAX_SEED = 2**32 - 1

app = typer.Typer(
    help="A human study: real photos against colourizations, judged by people on a local web page "
    "(Zhang, Isola and Efros 2016's 'colorization Turing test'). `create` a study, `serve` it, read its `results`.",
    no_args_is_help=True,
)


class Presentation(str, Enum):
    sequential = "sequential"
    side_by_side = "side-by-side"


@app.command()
def create(
    out: Annotated[Path, typer.Option("--out", "-o", help="The new study folder (must not exist).")],
    real: Annotated[Optional[Path], typer.Option(help="Folder of real photos (with --method NAME=DIR for each method).")] = None,
    method: Annotated[
        Optional[list[str]], typer.Option("--method", "-m", help="NAME=DIR: a method's colourized outputs, paired with --real by relative path without suffix. Repeat per method.")
    ] = None,
    results: Annotated[Optional[Path], typer.Option(help="Folder of stored results: each of --methods' latest run colourizes the test images again from its checkpoint.")] = None,
    methods: Annotated[Optional[str], typer.Option(help="With --results: NAME[,NAME...].")] = None,
    dataset: Annotated[
        Optional[str], typer.Option(help="With --results: the dataset of the runs (default: theirs, when they share one). With folders: what the photos are, so `results --attach` can place the study on the board.")
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="With --results: where the dataset is (as `run --data-dir`).")] = None,
    images: Annotated[int, typer.Option(help="How many photos to draw (each shown with every method's version).", min=1)] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the draw (and of stochastic methods' noise).", min=0, max=MAX_SEED)] = 0,
    trials: Annotated[Optional[int], typer.Option(help="Counted test pairs per participant (default: as many as the photos allow, at most 40).", min=1)] = None,
    practice: Annotated[int, typer.Option(help="Practice pairs with feedback, first.", min=0, max=1000)] = 10,
    vigilance: Annotated[int, typer.Option(help="Obviously fake pairs among the test pairs, to find inattentive participants.", min=0, max=1000)] = 2,
    max_vigilance_misses: Annotated[int, typer.Option(help="Exclude a participant who misses more vigilance pairs than this.", min=0)] = 0,
    presentation: Annotated[Presentation, typer.Option(help="sequential: one image after the other; side-by-side: both at once.")] = Presentation.sequential,
    display_ms: Annotated[int, typer.Option(help="How long each image (or the pair, side by side) is shown, in ms.", min=50, max=60_000)] = 1000,
    gap_ms: Annotated[int, typer.Option(help="Blank between the two images of a sequential pair, in ms.", min=0, max=60_000)] = 250,
    title: Annotated[str, typer.Option(help="The page's heading.")] = "Real or fake colours?",
    device: Annotated[str, typer.Option(help="With --results: auto, cpu, cuda, cuda:N or mps.")] = "auto",
    json_output: JsonOption = False,
) -> None:
    """Make a study folder from folders of images or from stored results.

    Photos are drawn (seeded), each with every method's colourization and an
    obviously fake vigilance version, copied under opaque ids, with study.json
    (the protocol). Nothing is written if --out exists or lies inside an input."""
    import os
    import re

    from colorbench import devices, outputs
    from colorbench.study import create as making
    from colorbench.study.manifest import METHOD_PATTERN
    from colorbench.study.protocol import Protocol

    use_json(json_output)
    from_folders = real is not None or bool(method)
    if from_folders == (results is not None):
        raise UsageError("make a study from folders (--real DIR --method NAME=DIR ...) or from stored results (--results DIR --methods A,B), one of them")
    if len(title) > 200:
        raise UsageError("--title: at most 200 characters")
    protocol = Protocol(
        presentation=presentation.value.replace("-", "_"), display_ms=display_ms, gap_ms=gap_ms, practice=practice,
        trials=trials or 1, vigilance=vigilance, max_vigilance_misses=max_vigilance_misses,
    )
    if os.path.lexists(out):
        raise UsageError(f"--out {out} already exists: a study is never overwritten (its votes live there); name a new folder")
    if from_folders:
        if real is None or not method:
            raise UsageError("a study from folders needs --real DIR and at least one --method NAME=DIR")
        named: dict[str, Path] = {}
        for item in method:
            name, sep, folder = item.partition("=")
            if not sep or not folder or not re.fullmatch(METHOD_PATTERN, name) or len(name) > 64:
                raise UsageError(f"--method {item!r}: write NAME=DIR, NAME in lower-case letters, digits and _")
            if name in named:
                raise UsageError(f"--method {name} is given twice")
            named[name] = Path(folder)
        outputs.check_folder(out, reads={f"--real {real}": real, **{f"--method {n}={p}": p for n, p in named.items()}})
        drawn = making.draw_from_folders(real, named, images=images, seed=seed)
        listed = [{"name": n, "folder": str(p.resolve())} for n, p in named.items()]
        source = {"kind": "folders", "real": str(real.resolve()), "dataset": dataset}
    else:
        if not methods:
            raise UsageError("--results needs --methods NAME[,NAME...]")
        names = [n.strip() for n in methods.split(",") if n.strip()]
        if len(set(names)) != len(names):
            raise UsageError(f"--methods {methods}: a method is named twice")
        outputs.check_folder(out, reads={f"--results {results}": results})
        runs = making.latest_runs(results, names, dataset, warn)
        drawn, listed = making.draw_from_results(runs, results, images=images, seed=seed, data_dir=data_dir, device=devices.pick(device))
        source = {"kind": "results", "results": str(results.resolve()), "dataset": runs[0].protocol.dataset.name}
    for entry in drawn.left_out:
        warn(f"left out: {entry}")
    protocol = making.fit_protocol(protocol, trials, len(drawn.photos))
    making.write_study(out, drawn, methods=listed, protocol=protocol, seed=seed, title=title, source=source)
    summary = {
        "study": str(out), "photos": len(drawn.photos), "left_out": drawn.left_out, "methods": [m["name"] for m in listed],
        "protocol": protocol.record(),
    }
    emit(summary, json_output, lambda: print_lines([
        f"{out}: {len(drawn.photos)} photos x {len(listed)} method(s) ({', '.join(m['name'] for m in listed)}); "
        f"each participant: {protocol.practice} practice, {protocol.trials} test and {protocol.vigilance} vigilance pairs",
        f"next: colorbench study serve {out}",
    ]))


@app.command()
def serve(
    study: Annotated[Path, typer.Argument(help="A study folder made by `study create`.", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on; anything but 127.0.0.1/localhost exposes the study to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    json_output: JsonOption = False,
) -> None:
    """Serve the study's page to participants until Ctrl-C.

    Votes are saved in STUDY/votes.sqlite as they come, each before the page
    is told. 127.0.0.1 by default: --host exposes it (no login)."""
    import socket

    import uvicorn

    from colorbench.errors import UserError
    from colorbench.study.manifest import open_study
    from colorbench.study.server import LOOPBACK, create_app

    use_json(json_output)
    opened = open_study(study)
    local = host in LOOPBACK
    if not local:
        warn(f"--host {host}: anyone who can reach this machine on port {port} can open the study and vote; there is no login")
    try:
        app = create_app(opened, hosts=list(LOOPBACK) if local else None)
    except ValueError as e:  # votes of another version of the study
        raise UserError(str(e)) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:  # a port in use is one line now, not uvicorn's traceback later
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e}): pass another --port or --host") from None
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown_host}:{port}/"
    emit({"url": url, "study": str(study), "votes": str(opened.votes_path)}, json_output,
         lambda: print_lines([f"Study {opened.manifest.title!r}: give participants {url}", "Ctrl-C stops the server; every vote is already saved."]))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)


@app.command()
def results(
    study: Annotated[Path, typer.Argument(help="A study folder made by `study create`.", show_default=False)],
    export: Annotated[Optional[Path], typer.Option(help="Also write every vote to this CSV file.")] = None,
    attach: Annotated[
        Optional[Path], typer.Option(help="Write each method's fooling rate as a result file into this results folder, so the leaderboard shows it beside the method's metrics.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the --export file if it exists.")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.", min=100, max=100_000)] = 2000,
    json_output: JsonOption = False,
) -> None:
    """Each method's fooling rate, with its bootstrap 95 % interval; who was counted.

    The fooling rate: how often the method's colourization was taken for the
    real photo. The interval resamples participants and photos together.
    Participants excluded (vigilance) or who did not finish are counted apart."""
    import csv
    import io

    from colorbench import outputs
    from colorbench.files import sha256
    from colorbench.reporting import results as result_files
    from colorbench.study import analysis, board
    from colorbench.study.manifest import MANIFEST, open_study

    use_json(json_output)
    opened = open_study(study)
    if export is not None:
        outputs.check_file(export, overwrite=overwrite, flag="--export", inputs=[study])
    if attach is not None:
        outputs.check_folder(attach, "--attach", reads={f"the study {study}": study})
    found = analysis.analyse(opened, resamples)
    if export is not None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=analysis.EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(analysis.vote_rows(opened))
        outputs.write(export, text.getvalue().encode())
        found["export"] = str(export)
    if attach is not None:
        written = [str(result_files.write(r, attach)) for r in board.records(opened, found, sha256(opened.root / MANIFEST))]
        found["attached"] = written

    def render():
        table = Table("method", "fooled", "95% interval", "trials", "participants", "photos",
                      title=f"{opened.manifest.title}: how often each method's colourization was taken for the real photo")
        for row in found["methods"]:
            ci = row["ci95"]
            table.add_row(
                row["method"], "—" if row["fooled"] is None else f"{100 * row['fooled']:.1f} %",
                "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] %", str(row["trials"]), str(row["participants"]), str(row["photos"]),
            )
        stdout.print(table)
        p, t, ci = found["participants"], found["trials"], found["ci95"]
        print_lines([
            f"participants: {p['started']} started, {p['counted']} counted, {p['excluded']} excluded (vigilance), {p['incomplete']} incomplete",
            f"votes: {t['votes']} ({t['practice']} practice, {t['vigilance']} vigilance with {t['vigilance_missed']} missed, {t['counted']} counted test pairs)",
            f"exclusion: {found['protocol']['exclusion']}",
            f"interval: {ci['method']}; {ci['resamples']} replicates, seed {ci['seed']}",
            f"protocol: {found['protocol']['description']}",
            *([f"votes written to {found['export']}"] if "export" in found else []),
            *(f"attached: {path}" for path in found.get("attached", [])),
            *(["attached: nothing, no method has counted votes yet"] if "attached" in found and not found["attached"] else []),
        ])

    emit(found, json_output, render)
