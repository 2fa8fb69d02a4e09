"""Result files -> tables, one per dataset and protocol.

Two results share a table only when they were scored the same way: the same
dataset, split, working size, test images and metric versions. Within a table
each method appears once per profile (its latest run).
"""

from __future__ import annotations

import json

import pandas as pd

from colorbench.metrics import METRICS

COLUMNS = {  # result metric -> column title
    "psnr": "PSNR",
    "ssim": "SSIM",
    "colourfulness": "CF",
    "delta_colourfulness": "ΔCF",
}


def protocol_key(result: dict) -> str:
    """A readable name for how a result was scored; equal keys share a table."""
    data = result["protocol"]["dataset"]
    versions = ",".join(f"{m}:v{result['protocol']['metrics'][m]['version']}" for m in COLUMNS)
    return (
        f"{data['name']} · {data['split']} · {data['size']}x{data['size']} px · "
        f"{data['scored']} test images ({data['excluded']} excluded) · metrics {versions}"
    )


def frame(results: list[dict]) -> pd.DataFrame:
    rows = []
    for r in results:
        rows.append({
            "protocol": protocol_key(r),
            "method": r["plugin"]["name"],
            "paper": r["plugin"]["paper"],
            "profile": r["protocol"]["profile"],
            **{title: r["metrics"][m] for m, title in COLUMNS.items()},
            "params": r["plugin"]["parameters"],
            "train s": r["training"]["seconds"],
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


def tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{protocol: its table}, with arrows on metric columns and rounded values."""
    shown = {}
    for key, group in df.groupby("protocol", sort=True):
        t = group.drop(columns=["protocol", "file", "created"]).round({"PSNR": 2, "SSIM": 4, "CF": 2, "ΔCF": 2, "train s": 1})
        shown[key] = t.rename(columns={c: c + arrow(c) for c in COLUMNS.values()})
    return shown


TERMINAL_COLUMNS = ["method", "profile", "PSNR ↑", "SSIM ↑", "CF", "ΔCF ↓", "params", "train s"]
"""What fits an 80-column terminal; markdown and JSON carry every column."""


def to_markdown(df: pd.DataFrame) -> str:
    parts = []
    for key, table in tables(df).items():
        parts.append(f"### {key}\n\n{table.to_markdown(index=False)}\n")
    return "\n".join(parts) or "No results yet: run `colorbench run --plugin NAME`.\n"


def to_json(df: pd.DataFrame) -> dict:
    groups = [
        {"protocol": key, "rows": json.loads(group.drop(columns="protocol").to_json(orient="records"))}
        for key, group in df.groupby("protocol", sort=True)
    ] if not df.empty else []
    return {"groups": groups}
