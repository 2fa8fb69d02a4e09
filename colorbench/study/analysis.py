"""A study's votes -> each method's fooling rate, with a bootstrap 95 % interval.

Who counts: a participant who answered every test and vigilance pair of their
plan, and missed at most the protocol's ``max_vigilance_misses`` vigilance pairs.
The others are counted, never silently dropped: excluded (too many vigilance
pairs missed) or incomplete (did not finish). Practice and vigilance votes are
never part of a rate.

The fooling rate of a method is the share of its counted test pairs in which the
participant called the real photo the fake one (50 %: people cannot tell).

The interval: a percentile bootstrap that resamples participants and photos
together (two-way), since votes depend on both who judged and what was judged.
Each of `RESAMPLES` replicates draws the counted participants with replacement
and, independently, the study's photos with replacement; a vote then counts as
many times as its participant was drawn times its photo was drawn, and each
method's rate is recomputed from those weighted votes. A replicate in which a
method has no vote is left out of that method's interval (the number kept is
reported). The 2.5th and 97.5th percentiles are the interval; the generator is
numpy's, seeded with `SEED`, so the interval is reproducible.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from colorbench.study import storage
from colorbench.study.manifest import Study

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
_BLOCK = 1 << 22  # resampled vote weights held at once


def describe(resamples: int = RESAMPLES) -> dict:
    return {
        "method": "percentile bootstrap resampling participants and photos (two-way): each replicate draws the counted "
        "participants and the photos with replacement, a vote weighs (times its participant was drawn) x (times its photo was drawn)",
        "resamples": resamples,
        "seed": SEED,
        "level": LEVEL,
    }


@dataclass
class Participant:
    id: int
    status: str  # counted, excluded, incomplete
    answered: int
    planned: int
    vigilance_missed: int


def participants(trials: list[dict], max_misses: int) -> dict[int, Participant]:
    """Each participant's status, by the protocol's exclusion rule (module docstring)."""
    found: dict[int, Participant] = {}
    for t in trials:
        who = found.setdefault(t["participant"], Participant(t["participant"], "", 0, 0, 0))
        if t["phase"] == "practice":
            continue
        who.planned += 1
        if t["answer"] is not None:
            who.answered += 1
            if t["phase"] == "vigilance" and t["answer"] != t["fake"]:
                who.vigilance_missed += 1
    for who in found.values():
        who.status = "incomplete" if who.answered < who.planned else "excluded" if who.vigilance_missed > max_misses else "counted"
    return found


def fooled(trial: dict) -> bool:
    """The participant called the real photo the fake one."""
    return trial["answer"] != trial["fake"]


def bootstrap(votes: list[dict], methods: list[str], resamples: int = RESAMPLES) -> dict[str, tuple[list[float] | None, int]]:
    """{method: (95 % interval of its fooling rate or None, replicates kept)} by the two-way bootstrap."""
    if not votes:
        return {m: (None, 0) for m in methods}
    people = {p: i for i, p in enumerate(sorted({v["participant"] for v in votes}))}
    photos = {p: i for i, p in enumerate(sorted({v["photo"] for v in votes}))}
    who = np.array([people[v["participant"]] for v in votes])
    what = np.array([photos[v["photo"]] for v in votes])
    hit = np.array([fooled(v) for v in votes], dtype=np.float64)
    method_of = np.array([methods.index(v["method"]) for v in votes])
    rng = np.random.default_rng(SEED)
    rates = np.empty((resamples, len(methods)))
    block = max(1, _BLOCK // len(votes))
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        # how many times each participant, and each photo, is drawn in each replicate
        drawn_people = rng.multinomial(len(people), np.full(len(people), 1 / len(people)), size=b)
        drawn_photos = rng.multinomial(len(photos), np.full(len(photos), 1 / len(photos)), size=b)
        weight = (drawn_people[:, who] * drawn_photos[:, what]).astype(np.float64)
        for m in range(len(methods)):
            mine = method_of == m
            total = weight[:, mine].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                rates[start : start + b, m] = (weight[:, mine] @ hit[mine]) / total
    tail = (1 - LEVEL) / 2 * 100
    out = {}
    for m, name in enumerate(methods):
        kept = rates[:, m][np.isfinite(rates[:, m])]
        out[name] = ([float(np.percentile(kept, tail)), float(np.percentile(kept, 100 - tail))] if len(kept) else None, int(len(kept)))
    return out


def check_votes(study: Study) -> None:
    """The votes must have been cast under this very study.json (an edited one could
    pair votes with other images or methods)."""
    from colorbench.errors import UserError
    from colorbench.files import sha256
    from colorbench.study.manifest import MANIFEST

    stored = storage.fingerprint_of(study.votes_path)
    if stored is not None and stored != sha256(study.root / MANIFEST):
        raise UserError(f"{study.votes_path} holds votes cast under another version of {study.root / MANIFEST} (it changed since): restore it")


def analyse(study: Study, resamples: int = RESAMPLES) -> dict:
    """Everything `colorbench study results` shows: per method, participants, protocol."""
    check_votes(study)
    trials = storage.every_trial(study.votes_path)
    people = participants(trials, study.protocol.max_vigilance_misses)
    counted = [t for t in trials if t["phase"] == "test" and t["answer"] is not None and people[t["participant"]].status == "counted"]
    intervals = bootstrap(counted, study.methods, resamples)
    by_method: dict[str, list[dict]] = defaultdict(list)
    for t in counted:
        by_method[t["method"]].append(t)
    rows = []
    for name in study.methods:
        votes = by_method[name]
        interval, kept = intervals[name]
        rows.append({
            "method": name,
            "fooled": sum(map(fooled, votes)) / len(votes) if votes else None,
            "ci95": interval,
            "fooled_votes": sum(map(fooled, votes)),
            "trials": len(votes),
            "participants": len({v["participant"] for v in votes}),
            "photos": len({v["photo"] for v in votes}),
            "resamples_kept": kept,
        })
    status = [p.status for p in people.values()]
    vigilance = [t for t in trials if t["phase"] == "vigilance" and t["answer"] is not None]
    return {
        "study": study.manifest.title,
        "folder": str(study.root),
        "methods": rows,
        "participants": {
            "started": len(people), "counted": status.count("counted"), "excluded": status.count("excluded"),
            "incomplete": status.count("incomplete"),
        },
        "trials": {
            "counted": len(counted),
            "votes": sum(t["answer"] is not None for t in trials),
            "practice": sum(t["answer"] is not None and t["phase"] == "practice" for t in trials),
            "vigilance": len(vigilance),
            "vigilance_missed": sum(t["answer"] != t["fake"] for t in vigilance),
        },
        "protocol": study.manifest.protocol.model_dump() | {"description": study.protocol.describe()},
        "ci95": describe(resamples),
        "fooled_rule": "the share of a method's counted test pairs in which the real photo was called the fake one",
    }


EXPORT_COLUMNS = (
    "participant", "status", "n", "phase", "photo", "source", "method", "fake", "answer", "correct", "fooled", "response_ms", "at",
)


def vote_rows(study: Study) -> list[dict]:
    """Every vote, one row each, for ``--export``: who, which pair, what they answered, and whether it counts."""
    check_votes(study)
    trials = storage.every_trial(study.votes_path)
    people = participants(trials, study.protocol.max_vigilance_misses)
    return [
        {
            "participant": t["participant"], "status": people[t["participant"]].status, "n": t["n"], "phase": t["phase"],
            "photo": t["photo"], "source": study.photos[t["photo"]].source if t["photo"] in study.photos else "",
            "method": t["method"] or "", "fake": t["fake"], "answer": t["answer"], "correct": int(t["answer"] == t["fake"]),
            "fooled": int(fooled(t)), "response_ms": t["response_ms"], "at": t["at"],
        }
        for t in trials if t["answer"] is not None
    ]
