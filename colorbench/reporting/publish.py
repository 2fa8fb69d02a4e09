"""The published board: ``leaderboard/README.md`` and its figures, generated from the
result files kept in ``leaderboard/results/`` (`colorbench leaderboard --write`).

The markdown is a pure function of those files, so ``--check`` can regenerate it
and compare: a board that no longer matches its results is stale.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import tempfile
from pathlib import Path

import pandas as pd

from colorbench.reporting import figures, tables as leaderboard, results
from colorbench.errors import UserError
from colorbench.reporting.tables import md
from colorbench.text import printable

BOARD = Path("leaderboard")


def slug(key_run) -> str:
    """The figures' name stem; a long one (a deep folder: dataset) is cut, with a hash to keep it unique."""
    data = key_run.protocol.dataset
    text = re.sub(r"[^a-z0-9]+", "-", f"{data.name}-{data.size}px".lower()).strip("-")
    return text if len(text) <= 80 else f"{text[:64]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _shell(text) -> str:
    """One word of a shell command, on one line: what a stored result holds is data."""
    return shlex.quote(printable(text))


def _seed_independent(r) -> bool:
    """A method with no weights and no noise (gray): `run --seeds` runs it once."""
    return not getattr(r.plugin, "stochastic", True) and getattr(r.plugin, "parameters", None) == 0


def _commands(runs: list, seeds: list[str]) -> str:
    """The commands that make these rows' results, as they were made: one per set of
    seeds (a method run once whatever the seeds joins the first), then per working size."""
    by_seeds: dict[str, list] = {}
    for r, s in zip(runs, seeds):
        by_seeds.setdefault(s, []).append(r)
    if len(by_seeds) > 1:
        alone = [s for s, rs in by_seeds.items() if "," not in s and all(_seed_independent(r) for r in rs)]
        for s in alone:
            if target := next((t for t in by_seeds if t != s and t.split(",")[0] == s), None):
                by_seeds[target] = by_seeds.pop(s) + by_seeds[target]
    return "\n".join(_command(rs, s) for s, rs in by_seeds.items())


def _command(runs: list, seeds: str) -> str:
    """The command that makes these results of one set of seeds: one per working size."""
    sizes = sorted({r.protocol.dataset.size for r in runs})
    if len(sizes) > 1:
        return "\n".join(_command([r for r in runs if r.protocol.dataset.size == s], seeds) for s in sizes)
    first = runs[0].protocol
    names = _shell(",".join(r.plugin.name for r in runs))
    seed_flag = f"--seeds {_shell(seeds)}" if "," in seeds else f"--seed {_shell(seeds)}"
    line = f"colorbench run --plugin {names} --dataset {_shell(first.dataset.name)} --profile {_shell(first.profile)} {seed_flag}"
    if first.dataset.size != (32 if first.dataset.name.startswith(("cifar10", "folder")) else 64):
        line += f" --size {_shell(first.dataset.size)}"
    if first.dataset.name.startswith(("cifar10", "imagenet", "coco", "ade20k")):
        line += " --data-dir DIR"
    line += _metrics_flag(first)
    overrides = {r.plugin.name: r.protocol.overrides for r in runs if r.protocol.overrides}
    note = "".join(f"\n# {printable(name)} with " + " ".join(f"--set {_shell(f'{k}={v}')}" for k, v in o.items()) for name, o in overrides.items())
    return line + " --out leaderboard/results" + note


def _metrics_flag(protocol) -> str:
    """``--metrics=-...`` naming the built-in metrics these results were scored without."""
    from colorbench.scoring.builtin_metrics import BY_NAME

    left_out = [n for n in BY_NAME if n not in protocol.metrics]
    return f" --metrics=-{',-'.join(left_out)}" if left_out else ""


def _submitted_command(systems: list) -> str:
    """How each system scored from its outputs was put on the board."""
    return "\n".join(
        f"colorbench score GT PRED --dataset {_shell(s.protocol.dataset.name)}"
        + (f" --size {_shell(s.protocol.dataset.size)}" if s.protocol.dataset.size != 64 and not leaderboard.full_resolution(s) else "")
        + (" --data-dir DIR" if s.protocol.dataset.name.startswith(("cifar10", "imagenet", "coco", "ade20k")) else "")
        + f" --name {_shell(s.plugin.name)} --paper {_shell(s.plugin.paper)}{_metrics_flag(s.protocol)} --out leaderboard/results"
        for s in systems
    )


def _is_run(r) -> bool:
    from colorbench.reporting.schemas import SubmittedResult

    return not isinstance(r, SubmittedResult)


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    """The board's columns: what, how well (value ± half-width of the 95 % interval,
    arrow for the direction), then how costly."""
    shown = leaderboard.markdown_table(table)
    out = pd.DataFrame({
        "method": [md(m) for m in table["method"]],
        "paper": [md(p.split(": ", 1)[0]) for p in table["paper"]],  # its short tag; README cites it in full
        "kind": [
            "hint" if leaderboard.has_hint(h) else "submitted outputs" if p == leaderboard.SUBMITTED else "automatic"
            for h, p in zip(table["hint"], table["profile"])
        ],
    })
    out["seeds"] = [md(s) for s in table["seeds"]]  # the training seeds its numbers are the mean over
    for title, m in leaderboard.metric_columns(table).items():
        out[title + leaderboard.arrow(m)] = list(shown[title + leaderboard.arrow(m)])
    out["diversity (LPIPS)"] = [
        "" if v is None or pd.isna(v) else f"{v:.4f}" + (" noise ignored" if ignored is True else "")
        for v, ignored in zip(table["diversity LPIPS"], table["noise ignored"])
    ]
    if table["own RGB ΔL*"].notna().any():  # a method whose network outputs RGB (Wan 2019): does it keep the gray image?
        out["own RGB ΔL* ↓"] = [
            leaderboard.with_interval(None if pd.isna(v) else v, ci, 2)
            for v, ci in zip(table["own RGB ΔL*"], table["own RGB ΔL* ci95"])
        ]
    if "fooled" in table:  # a human study judged some of these methods (colorbench.study.board)
        from colorbench.study.board import fooled_cells

        out["fooled % (people)"] = fooled_cells(table)
    out["params"] = ["" if pd.isna(n) else f"{n / 1e6:.2f} M" for n in table["params"]]
    out["GFLOPs/img"] = ["" if pd.isna(v) else f"{v:.3f}" for v in table["GFLOPs/img"]]
    out["img/s"] = ["" if pd.isna(v) else f"{v:.0f}" for v in table["img/s"]]
    out["device"] = [md(d) for d in table["device"]]
    return out


def _section(key: str, table: pd.DataFrame, runs: list, results_dir: Path, figures_dir: Path | None) -> str:
    by_file = {r._path: r for r in runs}
    rows = [by_file[f] for f in table["file"]]  # each row's newest result
    shown = [r for r in rows if _is_run(r)]  # colorbench's own runs: their commands and figures
    seeds = [s for s, r in zip(table["seeds"], rows) if _is_run(r)]
    systems = [r for r in rows if not _is_run(r)]  # scored from submitted outputs
    named = [(m, r) for m, r in zip(table["method"], rows) if _is_run(r)]  # (the name shown, its run): the figures' labels
    name = slug(rows[0])
    hinted = table[[leaderboard.has_hint(h) for h in table["hint"]]]
    automatic = table.drop(hinted.index)
    commands = ([_commands(shown, seeds)] if shown else []) + ([_submitted_command(systems)] if systems else [])
    parts = [f"### {md(key)}\n", "Made with:\n", "```\n" + "\n".join(commands) + "\n```\n"]
    parts.append(_cells(automatic).to_markdown(index=False) + "\n")
    if len(hinted):
        parts.append("Given a hint at test time (the ground truth's colour histogram: an oracle), so not comparable with the automatic methods above:\n")
        parts.append(_cells(hinted).to_markdown(index=False) + "\n")
    parts.append(leaderboard.interval_note(table) + "\n")
    if note := leaderboard.small_set_note(leaderboard.metric_columns(table), int(table["images"].iloc[0])):
        parts.append(note + "\n")
    if (spread := leaderboard.spread_table(table)) is not None:
        parts.append("Spread across training seeds on its own (the standard deviation of the seeds' values):\n")
        parts.append(spread.to_markdown(index=False, disable_numparse=True) + "\n")
    lpips = next((title + leaderboard.arrow(m) for title, m in leaderboard.metric_columns(table).items() if m.name == "lpips"), None)
    pictures = [
        ("grid", any(r.samples for r in shown), figures.grid, "the same test images across methods"),
        ("samples", any(r.samples and r.samples.diversity for r in shown), figures.sample_strips, "samples of each stochastic method"),
        ("speed", lpips is not None and table["img/s"].notna().any() and table[lpips].notna().any(), None, "quality against speed"),
    ]
    for kind, present, draw, caption in pictures:
        if not present:
            continue
        filename = f"{name}-{kind}.png"
        if figures_dir is not None:
            path = Path(figures_dir) / filename
            title = f"{shown[0].protocol.dataset.name}: {caption}"
            if kind == "speed":
                rows = [
                    {"display": m, "LPIPS": lp, "img/s": speed, "hint": h}
                    for m, lp, speed, h in zip(table["method"], table[lpips], table["img/s"], table["hint"])
                ]
                figures.quality_vs_speed(rows, path, title + f" ({shown[0].machine.device_name})")
            else:
                draw(named, results_dir, path, title)
        parts.append(f"![{caption}](figures/{filename})\n")
    return "\n".join(parts)


def _protocol(runs: list) -> str:
    def values(get) -> str:
        return ", ".join(sorted({md(get(r)) for r in runs}))

    lines = ["## Protocol\n", "Generated from the result files; every number above was made this way.\n"]
    for r in {r.protocol.dataset.name: r for r in runs}.values():
        d = r.protocol.dataset
        card = d.card
        reason = d.excluded_reason if "excluded_reason" in d.model_fields_set else "none"
        lines.append(
            f"- **{md(d.name)}**: {md(card.get('split', ''))}; working size {d.size}x{d.size}; "
            f"{d.count} test images, {d.excluded} excluded ({md(reason)}). "
            + " ".join(f"{md(k.replace('_', ' '))}: {md(v)}." for k, v in card.items() if k in ("preprocessing", "train_crops", "test_crops"))
        )
    own = [r for r in runs if _is_run(r)]
    lines.append(f"\nEvaluation: {md((own or runs)[0].protocol.evaluation)}.\n")
    if systems := [r for r in runs if not _is_run(r)]:
        lines.append(f"Systems scored from submitted outputs ({', '.join(md(s.plugin.name) for s in systems)}): {md(systems[0].protocol.evaluation)}.\n")
    lines.append("| metric | version | better | colour space | definition |\n|---|---|---|---|---|")
    for m in runs[0].protocol.metrics.values():
        better = {True: "higher", False: "lower", None: "—"}[m.higher_is_better]
        lines.append(f"| {md(m.name)} | {md(m.version)} | {better} | {md(m.colour_space)} | {md(m.description)} |")
    runs = own or []
    lines += [] if not runs else [
        f"\n- profiles: {values(lambda r: r.protocol.profile)}; seeds: {values(lambda r: r.protocol.seed)}; "
        f"diversity samples per image: {values(lambda r: r.protocol.diversity_samples or 'n/a')}",
        f"- colorbench {values(lambda r: r.colorbench_version)} (commits {values(lambda r: (r.git_commit or 'unknown')[:12])}); "
        f"Python {values(lambda r: r.machine.python)}; torch {values(lambda r: r.machine.torch)}",
        f"- devices: {values(lambda r: r.machine.device_name + ' (' + r.machine.device + ')')}\n",
    ]
    return "\n".join(lines)


def build(board: Path = BOARD, *, figures_dir: Path | None = None, warn=print) -> str:
    """The board's markdown; with ``figures_dir``, draw its PNGs there too."""
    results_dir = Path(board) / "results"
    runs = results.read_all(results_dir, warn=warn) if results_dir.is_dir() else []
    df = leaderboard.frame(runs)
    parts = [
        "# colorbench leaderboard\n",
        "Generated by `colorbench leaderboard --write` from the result files in [results/](results/); "
        "do not edit by hand (`colorbench leaderboard --check`, run by CI, fails when this file is stale). "
        "One table per dataset and protocol: numbers made differently (another split, size or metric "
        "version) never share a table. `gray` is the zero-chroma baseline. A row is the mean over the training "
        "seeds it was run with (`seeds`); ± is the half-width of a 95 % bootstrap interval, and below each table "
        "is what it resamples (training seeds, then test photos or images); ✓ marks a metric on which a method "
        "is better than gray by that interval; arrows say which direction is better. "
        "`paper` names the paper (and section) each row follows; README.md cites them in full. Every method is "
        "scored the same way: its ab joined with the input's L. A method whose network outputs RGB (Wan 2019's) "
        "also has that RGB scored as it came out: `own RGB ΔL*` is the mean |L* difference| between it and "
        "the gray input, in CIE units (0: it keeps the gray image; Wan 2019 §3.1's failure is a large one).\n",
    ]
    if df.empty:
        return "\n".join(parts + ["No results yet.\n"])
    scored = [r for r in runs if r._path in {f for files in df["files"] for f in files}]  # every seed of every row
    for key, table in leaderboard.tables(df).items():
        parts.append(_section(key, table.assign(file=df.loc[table.index, "file"]), scored, results_dir, figures_dir))
    parts.append(_protocol(scored))
    return "\n".join(parts)


def write(board: Path = BOARD, warn=print) -> Path:
    """Redraw the figures and rewrite README.md, all or nothing: everything is made
    in a folder beside them first, so a refusal (a sample image missing...) leaves
    the published board as it was. A README.md colorbench did not write, or a
    figure of a folder that is not a board yet, is never replaced."""
    from colorbench.files import write_atomic

    board = Path(board)
    readme, figures_dir = board / "README.md", board / "figures"
    first_time = not _ours(readme)
    if os.path.lexists(figures_dir) and not os.path.isdir(figures_dir):
        raise UserError(f"{figures_dir} is not a folder, and the board's figures go there: move it, or pass --board DIR")
    try:
        with tempfile.TemporaryDirectory(dir=board, prefix=".board-") as staging:
            text = build(board, figures_dir=Path(staging), warn=warn)
            moves = [(figure, figures_dir / figure.name) for figure in sorted(Path(staging).iterdir())]
            if taken := [target for _, target in moves if os.path.isdir(target) or (first_time and os.path.lexists(target))]:
                raise UserError(f"{taken[0]} is already there and not the board's; nothing was written: move it, or pass --board DIR")
            if moves:
                figures_dir.mkdir(exist_ok=True)
            for figure, target in moves:
                os.replace(figure, target)
            return write_atomic(readme, text.encode())
    except OSError as e:
        raise UserError(f"cannot write the board in {board} ({e.strerror or e}): make it writable, or pass --board DIR") from None


SIGNATURE = "# colorbench leaderboard\n\nGenerated by `colorbench leaderboard --write`"  # how every board's README.md begins


def _ours(readme: Path) -> bool:
    """Whether ``readme`` is a board colorbench wrote (False: there is none); anything
    else there (the user's own README.md, a folder, a link) is refused."""
    if not os.path.lexists(readme):
        return False
    if os.path.islink(readme) or not os.path.isfile(readme):
        what = "a link" if os.path.islink(readme) else "a folder" if os.path.isdir(readme) else "not a regular file"
        raise UserError(f"{readme} is {what}, not a board colorbench wrote; it is kept: move it, or pass --board DIR")
    try:
        with open(readme, "rb") as f:
            ours = f.read(len(SIGNATURE.encode())) == SIGNATURE.encode()
    except OSError as e:
        raise UserError(f"cannot read {readme} ({e.strerror or e}) to see whether colorbench wrote it: make it readable, or pass --board DIR") from None
    if not ours:
        raise UserError(f"{readme} was not written by `colorbench leaderboard --write`; it is kept: move it, or pass --board DIR naming a board's folder")
    return True


def is_stale(board: Path = BOARD, warn=print) -> bool:
    path = Path(board) / "README.md"
    try:
        return path.read_text() != build(board, warn=warn)
    except (OSError, UnicodeDecodeError):  # missing or unreadable: it needs writing
        return True
