"""Result files -> tables, one per dataset and protocol.

Two results share a table only when they were scored the same way: the same
dataset, split, working size, test images and metric versions. Within a table
each method appears once per profile (its latest run).

Result files from before LPIPS, intervals, diversity and speed were recorded
still load: what they lack is blank, and (their metric set differing) they sit
in a table of their own. ``colorbench score`` outputs are not runs of a method
and are left out.

The metric columns are those the results record, with the title, digits and
direction each result's metric record gives (`colorbench.scoring.registry`):
a table needs no list of metrics, and no plugin installed to be drawn.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from colorbench.text import printable

DIGITS = {"train s": 1, "diversity LPIPS": 4, "img/s": 1, "GFLOPs/img": 3}  # the other columns' digits: their metric's
METRICS = "metric columns"  # a row's {title: metric record}, for the table it lands in


def _shown(result) -> dict:
    """{column title: metric record} of the metrics a result records that have a column."""
    return {m.title: m for m in result.protocol.metrics.values() if m.title}


def metric_columns(table: pd.DataFrame) -> dict:
    """{title: metric record} of a table's metric columns, in the order its results record them."""
    found: dict = {}
    for shown in table[METRICS]:
        for title, record in shown.items():
            found.setdefault(title, record)
    return found


def arrow(record) -> str:
    return {True: " ↑", False: " ↓", None: ""}[record.higher_is_better]


def protocol_key(result) -> str:
    """A readable name for how a result was scored; equal keys share a table. Test
    images larger than the working size (a published protocol's 256 px) are named by
    their own size: methods of any working size, and systems scored from their
    outputs, are scored on the same images."""
    data = result.protocol.dataset
    versions = ",".join(f"{m.name}:v{m.version}" for m in _shown(result).values())
    size = f"{data.size}x{data.size} px" if not full_resolution(result) else f"{data.test_size}x{data.test_size} px, full resolution"
    return (
        f"{data.name} · {data.split} · {size} · "
        f"{data.scored} test images ({data.excluded} excluded) · metrics {versions}"
    )


def full_resolution(result) -> bool:
    """Whether the test images were larger than the working size (`colorbench.scoring.evaluate`)."""
    data = result.protocol.dataset
    return getattr(data, "test_size", None) is not None and data.test_size > data.size


def _diversity(r) -> tuple[float | None, bool | None]:
    if r.diversity is None or not r.diversity.applicable:
        return None, None
    return r.diversity.lpips, r.diversity.noise_ignored


def _speed(r) -> tuple[float | None, float | None]:
    flops = r.speed.flops_per_image if r.speed else None
    images_per_s = r.speed.inference.images_per_s if r.speed and r.speed.inference else None
    return images_per_s, (flops / 1e9 if flops is not None else None)


def _native(r) -> tuple[float | None, list | None]:
    """The lightness error of a method's own RGB output (`colorbench.scoring.native_output`), with its interval."""
    native = getattr(r, "native_output", None)
    if native is None:
        return None, None
    return native.metrics.get("lightness_error"), native.ci95.get("lightness_error")


SUBMITTED = "submitted"  # the profile column of a system scored from its outputs (`colorbench.scoring.submitted`)
GRAY = "gray"  # the baseline every row is read against
BETTER_MARK = "✓"


def _submitted_row(r) -> dict:
    """A system scored from its submitted outputs: no training, speed or device of ours."""
    drift, drift_ci = _native(r)
    return {
        "method": r.plugin.name, "hint": None, "paper": r.plugin.paper,
        "params": None, "train s": None, "img/s": None, "GFLOPs/img": None, "device": "", "seeds": "",
        "diversity LPIPS": None, "noise ignored": None, "own RGB ΔL*": drift, "own RGB ΔL* ci95": drift_ci,
    }


def _run_row(runs: list) -> dict:
    """A method's group of seeds (`colorbench.reporting.groups`): its newest run describes it."""
    r = runs[-1]
    images_per_s, gflops = _speed(r)
    spread, ignored = _diversity(r)
    drift, drift_ci = _native(r)
    return {
        "method": r.plugin.name + (f" ({r.protocol.dataset.size} px)" if full_resolution(r) else ""),  # its working size
        "hint": r.plugin.hint,
        "paper": r.plugin.paper,
        "diversity LPIPS": spread,
        "noise ignored": ignored,
        "own RGB ΔL*": drift,
        "own RGB ΔL* ci95": drift_ci,
        "params": r.plugin.parameters,
        "train s": math.fsum(x.training.seconds for x in runs) / len(runs),
        "img/s": images_per_s,
        "GFLOPs/img": gflops,
        "device": r.machine.device_name,
        "seeds": ",".join(str(x.protocol.seed) for x in runs),
    }


def _better_than_gray(runs: list, gray: list | None) -> list[str]:
    """The metrics on which ``runs`` beat gray's: the 95 % interval of the difference
    (`colorbench.scoring.paired_comparison`, seeds and photos resampled) excludes 0."""
    from colorbench.scoring import paired_comparison

    if gray is None or runs is gray or any(r.per_image is None for r in [*runs, *gray]):
        return []
    try:
        found = paired_comparison.compare(gray, runs)
    except Exception:  # not comparable (other images): no mark, never a wrong one
        return []
    return [name for name, m in found["metrics"].items() if m["better"] == "B"]


def frame(results: list) -> pd.DataFrame:
    """One row per method's group of scored runs (`colorbench.reporting.groups`: one per
    training seed) and per system scored from its outputs (`schemas.SubmittedResult`);
    plain `score` outputs and diverged runs have none. A row's metrics are its group's
    (`colorbench.scoring.seed_groups`): the mean over seeds, the interval over seeds and
    test photos, the spread across seeds."""
    from colorbench.reporting import groups
    from colorbench.reporting.schemas import ScoredRun, SubmittedResult
    from colorbench.scoring import seed_groups

    scored = [r for r in results if isinstance(r, SubmittedResult) or isinstance(r, ScoredRun) and r.status == "ok"]
    found = groups.groups(scored)
    gray = {key[0]: runs for key, runs in found.items() if key[1] == GRAY}
    rows = []
    for (protocol, method, profile), runs in found.items():
        r = runs[-1]
        summary = seed_groups.summarize(runs)
        better = _better_than_gray(runs, gray.get(protocol))
        rows.append({
            "protocol": protocol, "profile": profile, "images": r.protocol.dataset.scored,
            **(_submitted_row(r) if isinstance(r, SubmittedResult) else _run_row(runs)),
            **{title: summary.metrics.get(m.name) for title, m in _shown(r).items()},
            **{f"{title} ci95": summary.ci95.get(m.name) for title, m in _shown(r).items()},
            **{f"{title} sd": summary.spread.get(m.name) for title, m in _shown(r).items()},
            METRICS: _shown(r),
            "better than gray": [m.title for name, m in r.protocol.metrics.items() if name in better and m.title],
            "intervals": summary.intervals,
            "created": r.created,
            "file": r._path,
            "files": [x._path for x in runs],
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    # gray first: every other row is read against it
    order = df.assign(_gray=df["method"] != GRAY).sort_values(["protocol", "_gray", "PSNR"], ascending=[True, True, False])
    from colorbench.study.board import with_studies  # a human study's fooling rate beside the metrics

    return with_studies(order.drop(columns="_gray").reset_index(drop=True), results)


def has_hint(hint) -> bool:
    """Whether a table's hint cell names one (pandas holds a missing hint as NaN)."""
    return isinstance(hint, str) and bool(hint)


def display_name(method: str, hint) -> str:
    """A method that is handed a hint at test time is marked: its numbers are not
    comparable with automatic colourization's."""
    return f"{method} (hint)" if has_hint(hint) else method


def tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{protocol: its table}, with arrows on metric columns, rounded values and
    hint-based methods marked in the method column."""
    shown = {}
    if df.empty:  # no rows: not even a protocol column to group by
        return shown
    everywhere = metric_columns(df)
    for key, group in df.groupby("protocol", sort=True):
        columns = metric_columns(group)
        digits = DIGITS | {title: m.digits for title, m in columns.items()}
        others = [c for title in everywhere if title not in columns for c in (title, f"{title} ci95", f"{title} sd")]  # other tables' metrics
        t = group.drop(columns=["protocol", "file", "created", *others]).round({k: v for k, v in digits.items() if k in group})
        t = t.assign(method=[display_name(m, h) for m, h in zip(t["method"], t["hint"])])
        shown[key] = t.rename(columns={title: title + arrow(m) for title, m in columns.items()})
    return shown


def terminal_columns(table: pd.DataFrame) -> list[str]:
    """What fits an 80-column terminal (even with a 21-character "name (hint)"):
    the metrics marked for it; markdown and JSON carry every column, the intervals too."""
    narrow = [title + arrow(m) for title, m in metric_columns(table).items() if m.narrow_table]
    return ["method", "profile", *narrow, "params", "train s"]


def markdown_columns(table: pd.DataFrame) -> list[str]:
    metrics = [title + arrow(m) for title, m in metric_columns(table).items()]
    return [
        "method", "profile", *metrics, "fooled %",
        "diversity LPIPS", "noise ignored", "params", "train s", "img/s", "GFLOPs/img", "hint", "device", "seeds",
    ]


# Characters that can turn text into markdown or HTML (emphasis, code, links, table
# cells, tags): plugin text is data, never markup. With [ and ] escaped, ( ) and !
# cannot make a link or an image.
_SPECIAL = re.compile(r"([\\`*_\[\]|<>&~])")


def md(text) -> str:
    text = printable(text)  # a newline would end the line: a heading or a table row of its own
    return _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)), text)


def with_interval(value, ci, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.{digits}f}"
    if isinstance(ci, list) and len(ci) == 2:
        text += f" ± {(ci[1] - ci[0]) / 2:.{digits}f}"
    return text


SMALL_SET_MARK = "†"


def too_few(record, images) -> bool:
    """Whether a metric's value rests on fewer images than it needs to be unbiased (FID below 2,048)."""
    return getattr(record, "reliable_from", 0) > images


def metric_cell(value, ci, record, images: int) -> str:
    """"value ± half-width", marked when the value rests on too few images."""
    text = with_interval(value, ci, record.digits)
    return text + f" {SMALL_SET_MARK}" if text and too_few(record, images) else text


def small_set_note(columns: dict, images: int) -> str:
    """The footnote of a table whose values ``too_few`` marks; "" when none is."""
    flagged = [title for title, m in columns.items() if too_few(m, images)]
    if not flagged:
        return ""
    needed = max(columns[t].reliable_from for t in flagged)
    return (
        f"{SMALL_SET_MARK} {' and '.join(flagged)} on {images} images, fewer than the {needed:,} it needs: biased (upwards, more so on "
        "fewer images) and from a rank-deficient covariance, so comparable only with values on the same images; KID is unbiased at any size."
    )


def marked(text: str, title: str, better) -> str:
    """A cell marked when its method beats gray on that metric (`frame`'s "better than gray")."""
    return f"{text} {BETTER_MARK}" if text and isinstance(better, list) and title in better else text


def markdown_table(table: pd.DataFrame) -> pd.DataFrame:
    """Metric cells as "value ± half-width of the 95% interval", marked where better than gray."""
    t = table.copy()
    for title, m in metric_columns(table).items():
        t[title + arrow(m)] = [
            marked(metric_cell(v, ci, m, n), title, better)
            for v, ci, n, better in zip(t[title + arrow(m)], t[f"{title} ci95"], t["images"], t["better than gray"])
        ]
    if "fooled" in t:  # a human study judged some of these methods (colorbench.study.board)
        from colorbench.study.board import fooled_cells

        t["fooled %"] = fooled_cells(t)
    t = t[[c for c in markdown_columns(table) if c in t]].astype(object)
    t = t.where(t.notna(), "")  # not applicable or not recorded: an empty cell, not "nan"
    for column in t:  # text from result files (plugins, machines, hand edits) is data, never markdown
        t[column] = [md(v) if isinstance(v, str) else v for v in t[column]]
    return t


def interval_note(table: pd.DataFrame) -> str:
    """What a table's ± covers, from how its rows' intervals were made."""
    described = {i["method"].removeprefix("percentile bootstrap over ") for i in table["intervals"] if isinstance(i, dict) and "method" in i}
    trained = [s for s, n in zip(table["seeds"], table["params"]) if isinstance(s, str) and s and n]  # gray: the same for any seed
    seeds = sorted({len(s.split(",")) for s in trained})
    text = "± : half-width of the 95 % percentile-bootstrap interval over " + "; or over ".join(sorted(described)) + "."
    if seeds and seeds[0] == 1:
        text += (" A row of one seed (seeds: one number) was trained once: its interval covers the test images only, "
                 "and a quick-profile GAN retrained with another seed can move by more than it.")
    if len(seeds) > 1 or seeds and seeds[0] > 1:
        text += " FID and KID, one value per trained model, have their seeds resampled alone."
    return text + f" {BETTER_MARK}: better than gray, the 95 % interval of the difference from gray (resampled the same way) excluding 0."


def spread_table(table: pd.DataFrame) -> pd.DataFrame | None:
    """The spread across training seeds on its own: the standard deviation of each
    seed's value, for the rows of two seeds or more (None: there are none)."""
    several = table[[isinstance(s, str) and "," in s for s in table["seeds"]]]
    if several.empty:
        return None
    columns = metric_columns(table)
    out = pd.DataFrame({"method": [md(m) for m in several["method"]], "seeds": list(several["seeds"])})
    for title, m in columns.items():
        out[f"{title} sd"] = ["" if v is None or pd.isna(v) else f"{v:.{m.digits}f}" for v in several[f"{title} sd"]]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    parts = []
    for key, table in tables(df).items():
        notes = [n for n in (interval_note(table), small_set_note(metric_columns(table), int(table["images"].iloc[0]))) if n]
        parts.append(f"### {md(key)}\n\n{markdown_table(table).to_markdown(index=False)}\n\n" + "\n\n".join(notes) + "\n")
        if (spread := spread_table(table)) is not None:
            parts.append(f"Spread across training seeds (standard deviation of the seeds' values):\n\n{spread.to_markdown(index=False, disable_numparse=True)}\n")
    if parts:
        parts.append(
            "diversity LPIPS: mean LPIPS between a stochastic method's samples (blank: deterministic). "
            "A method marked (hint) is given a hint at test time.\n"
        )
    return "\n".join(parts) or "No results yet: run `colorbench run --plugin NAME`.\n"


def to_json(df: pd.DataFrame) -> dict:
    groups = [
        {"protocol": key, "rows": json.loads(group.drop(columns=["protocol", METRICS]).to_json(orient="records"))}
        for key, group in df.groupby("protocol", sort=True)
    ] if not df.empty else []
    return {"groups": groups}
