"""A study's fooling rates on the leaderboard.

`colorbench study results STUDY --attach RESULTS_DIR` writes one result file per
method (``kind: "study"``, `colorbench.reporting.schemas.StudyResult`): the
method's fooling rate as a metric named ``fooled``, its interval, the study's
size and protocol. The board (`colorbench.reporting.tables.frame`) puts the
latest study of a method beside that method's automatic metrics, on the same
dataset: a study made from stored results names the run it judged and attaches
to that run only; one made from folders attaches by method and dataset name.
"""

from __future__ import annotations

import math
from pathlib import Path

import colorbench
from colorbench.errors import UsageError
from colorbench.study.manifest import Study

FOOLED = {
    "name": "fooled", "version": "1", "higher_is_better": True, "colour_space": "8-bit sRGB as shown on the participants' screens",
    "description": "share of a method's counted test pairs (real photo vs its colourization, colorbench.study.protocol) in which "
    "the participant called the real photo the fake one", "kind": "set", "title": None, "digits": 3, "narrow_table": False,
    "valid_range": [0.0, 1.0],
}


def records(study: Study, analysis: dict, fingerprint: str) -> list[dict]:
    """One result per method with votes, ready to write (`colorbench.reporting.results.dumps`)."""
    import torch

    from colorbench.reporting import results

    dataset = study.manifest.source.get("dataset")
    if not dataset:
        raise UsageError(
            "this study's photos name no dataset, so the board cannot place it: make it from --results, "
            "or pass --dataset NAME to `study create` with the folders"
        )
    by_name = {m.name: m for m in study.manifest.methods}
    made = []
    for row in analysis["methods"]:
        if row["fooled"] is None:
            continue
        judged = {"method": row["method"], "dataset": dataset, "run_id": getattr(by_name[row["method"]], "run_id", None)}
        made.append({
            "kind": "study",
            "schema_version": results.SCHEMA_VERSION,
            "run_id": results.new_run_id(f"study-{row['method']}", dataset),
            "created": results._now(),
            "colorbench_version": colorbench.__version__,
            "machine": results.machine_info(torch.device("cpu")),  # where the numbers were computed
            "judged": judged,
            "metrics": {"fooled": row["fooled"]},
            "ci95": {"fooled": row["ci95"]},
            "protocol": {
                "metrics": {"fooled": FOOLED},
                "evaluation": study.protocol.describe(),
                "ci95": analysis["ci95"],
                "study": analysis["protocol"],
            },
            "study": {
                "title": study.manifest.title, "folder": str(Path(study.root).resolve()), "study_sha256": fingerprint,
                "participants": row["participants"], "trials": row["trials"], "photos": row["photos"],
                "participants_excluded": analysis["participants"]["excluded"], "participants_incomplete": analysis["participants"]["incomplete"],
            },
        })
    return made


def with_studies(df, results: list):
    """The board's rows (`tables.frame`) with ``fooled``, ``fooled ci95`` and ``study``
    columns where a study judged that method's run; unchanged when none did."""
    from colorbench.reporting.schemas import StudyResult

    studies = sorted((r for r in results if isinstance(r, StudyResult)), key=lambda r: r.created)
    if df.empty or not studies:
        return df
    by_file = {r._path: r for r in results}
    found = []
    for method, path in zip(df["method"], df["file"]):
        run = by_file[path]
        match = [
            s for s in studies
            if s.judged.method == method and s.judged.dataset == run.protocol.dataset.name
            and (s.judged.run_id is None or s.judged.run_id == getattr(run, "run_id", None))
        ]
        found.append(match[-1] if match else None)  # the latest
    if not any(found):
        return df
    return df.assign(
        fooled=[s.metrics["fooled"] if s else None for s in found],
        **{"fooled ci95": [s.ci95.get("fooled") if s else None for s in found]},
        study=[f"{s.study.participants} {'person' if s.study.participants == 1 else 'people'}, {s.study.trials} trials" if s else None for s in found],
    )


def fooled_cells(table) -> list[str]:
    """"32 % (27–37 %), 12 people, 240 trials": the rate, its 95 % interval and the study's
    size; empty where no study judged the method."""
    cells = []
    for value, ci, size in zip(table["fooled"], table["fooled ci95"], table["study"]):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            cells.append("")
            continue
        interval = f" ({100 * ci[0]:.0f}–{100 * ci[1]:.0f} %)" if isinstance(ci, list) and len(ci) == 2 else ""
        cells.append(f"{100 * value:.0f} %{interval}, {size}")
    return cells
