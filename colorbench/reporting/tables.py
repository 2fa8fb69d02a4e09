"""Result files -> tables, one per dataset and protocol.

Two results share a table only when they were scored the same way: the same
dataset, split, working size, test images and metric versions. Within a table
each method appears once per profile (its latest run).

Result files from before LPIPS, intervals, diversity and speed were recorded
still load: what they lack is blank, and (their metric set differing) they sit
in a table of their own. ``colorbench score`` outputs are not runs of a method
and are left out.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from colorbench.scoring.metrics import METRICS
from colorbench.text import printable

COLUMNS = {  # result metric -> column title
    "psnr": "PSNR",
    "ssim": "SSIM",
    "lpips": "LPIPS",
    "colourfulness": "CF",
    "delta_colourfulness": "ΔCF",
}
DIGITS = {"PSNR": 2, "SSIM": 4, "LPIPS": 4, "CF": 2, "ΔCF": 2, "train s": 1, "diversity LPIPS": 4, "img/s": 1, "GFLOPs/img": 3}


def protocol_key(result: dict) -> str:
    """A readable name for how a result was scored; equal keys share a table."""
    data = result["protocol"]["dataset"]
    recorded = result["protocol"]["metrics"]
    versions = ",".join(f"{m}:v{recorded[m]['version']}" for m in COLUMNS if m in recorded)
    return (
        f"{data['name']} · {data['split']} · {data['size']}x{data['size']} px · "
        f"{data['scored']} test images ({data['excluded']} excluded) · metrics {versions}"
    )


def _diversity(r: dict) -> tuple[float | None, bool | None]:
    d = r.get("diversity") or {}
    if not d.get("applicable"):
        return None, None
    return d.get("lpips"), d.get("noise_ignored")


def _speed(r: dict) -> tuple[float | None, float | None]:
    s = r.get("speed") or {}
    flops = s.get("flops_per_image")
    return (s.get("inference") or {}).get("images_per_s"), (flops / 1e9 if flops is not None else None)


def frame(results: list[dict]) -> pd.DataFrame:
    rows = []
    for r in results:
        if r.get("kind") == "score":  # a `colorbench score` output, not a method's run
            continue
        if r.get("status", "ok") != "ok":  # diverged: it has no scores to show
            continue
        images_per_s, gflops = _speed(r)
        spread, ignored = _diversity(r)
        ci = r.get("ci95") or {}
        rows.append({
            "protocol": protocol_key(r),
            "method": r["plugin"]["name"],
            "hint": r["plugin"].get("hint"),
            "paper": r["plugin"]["paper"],
            "profile": r["protocol"]["profile"],
            **{title: r["metrics"].get(m) for m, title in COLUMNS.items()},
            **{f"{title} ci95": ci.get(m) for m, title in COLUMNS.items()},
            "diversity LPIPS": spread,
            "noise ignored": ignored,
            "params": r["plugin"]["parameters"],
            "train s": r["training"]["seconds"],
            "img/s": images_per_s,
            "GFLOPs/img": gflops,
            "device": r["machine"]["device_name"],
            "seed": r["protocol"]["seed"],
            "created": r["created"],
            "file": r.get("_path", ""),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    latest = df.sort_values("created").groupby(["protocol", "method", "profile"], as_index=False).tail(1)
    # gray first: every other row is read against it
    order = latest.assign(_gray=latest["method"] != "gray").sort_values(["protocol", "_gray", "PSNR"], ascending=[True, True, False])
    return order.drop(columns="_gray").reset_index(drop=True)


def arrow(column: str) -> str:
    metric = next(m for m, t in COLUMNS.items() if t == column)
    better = METRICS[metric].higher_is_better
    return {True: " ↑", False: " ↓", None: ""}[better]


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
    for key, group in df.groupby("protocol", sort=True):
        t = group.drop(columns=["protocol", "file", "created"]).round({k: v for k, v in DIGITS.items() if k in group})
        t = t.assign(method=[display_name(m, h) for m, h in zip(t["method"], t["hint"])])
        shown[key] = t.rename(columns={c: c + arrow(c) for c in COLUMNS.values()})
    return shown


TERMINAL_COLUMNS = ["method", "profile", "PSNR ↑", "SSIM ↑", "LPIPS ↓", "ΔCF ↓", "params", "train s"]
"""What fits an 80-column terminal (even with a 21-character "name (hint)");
markdown and JSON carry every column, CF and the intervals too."""

MARKDOWN_COLUMNS = [
    "method", "profile", "PSNR ↑", "SSIM ↑", "LPIPS ↓", "CF", "ΔCF ↓",
    "diversity LPIPS", "noise ignored", "params", "train s", "img/s", "GFLOPs/img", "hint", "device", "seed",
]


# Characters that can turn text into markdown or HTML (emphasis, code, links, table
# cells, tags): plugin text is data, never markup. With [ and ] escaped, ( ) and !
# cannot make a link or an image.
_SPECIAL = re.compile(r"([\\`*_\[\]|<>&~])")


def md(text) -> str:
    text = printable(text)  # a newline would end the line: a heading or a table row of its own
    return _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)), text)


def _with_interval(value, ci, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.{digits}f}"
    if isinstance(ci, list) and len(ci) == 2:
        text += f" ± {(ci[1] - ci[0]) / 2:.{digits}f}"
    return text


def markdown_table(table: pd.DataFrame) -> pd.DataFrame:
    """Metric cells as "value ± half-width of the 95% interval"."""
    t = table.copy()
    for metric, title in COLUMNS.items():
        t[title + arrow(title)] = [
            _with_interval(v, ci, DIGITS[title]) for v, ci in zip(t[title + arrow(title)], t[f"{title} ci95"])
        ]
    t = t[[c for c in MARKDOWN_COLUMNS if c in t]].astype(object)
    t = t.where(t.notna(), "")  # not applicable or not recorded: an empty cell, not "nan"
    for column in t:  # text from result files (plugins, machines, hand edits) is data, never markdown
        t[column] = [md(v) if isinstance(v, str) else v for v in t[column]]
    return t


def to_markdown(df: pd.DataFrame) -> str:
    parts = []
    for key, table in tables(df).items():
        parts.append(f"### {md(key)}\n\n{markdown_table(table).to_markdown(index=False)}\n")
    if parts:
        parts.append(
            "± : half-width of the percentile-bootstrap 95% interval over test images. diversity LPIPS: mean "
            "LPIPS between a stochastic method's samples (blank: deterministic). A method marked (hint) is "
            "given a hint at test time.\n"
        )
    return "\n".join(parts) or "No results yet: run `colorbench run --plugin NAME`.\n"


def to_json(df: pd.DataFrame) -> dict:
    groups = [
        {"protocol": key, "rows": json.loads(group.drop(columns="protocol").to_json(orient="records"))}
        for key, group in df.groupby("protocol", sort=True)
    ] if not df.empty else []
    return {"groups": groups}
