"""Which results make one row of a table: a method's results of one protocol and
profile, made the same way (its version, its settings) with different training
seeds, the newest of each seed. The newest result decides how the row is made:
older results made otherwise (another version, other --set values) are not in it.
A system scored from its outputs has no seeds: its newest result is its row.
"""

from __future__ import annotations

import pandas as pd


def _made(r) -> tuple:
    """What must be equal for two results to be seeds of one method."""
    plugin, protocol = r.plugin, r.protocol
    return (
        getattr(plugin, "version", None), repr(getattr(plugin, "config", None)), repr(getattr(protocol, "overrides", None)),
        getattr(protocol, "diversity_samples", None), getattr(r, "kind", "run"),
        tuple(sorted(r.per_image.id)) if r.per_image is not None else None,
    )


def row_key(r) -> tuple[str, str, str]:
    """(protocol, method as shown, profile): one row per key."""
    from colorbench.reporting.tables import SUBMITTED, full_resolution, protocol_key

    if getattr(r, "kind", None) == "submitted":
        return protocol_key(r), r.plugin.name, SUBMITTED
    return protocol_key(r), r.plugin.name + (f" ({r.protocol.dataset.size} px)" if full_resolution(r) else ""), r.protocol.profile


def groups(results: list) -> dict[tuple[str, str, str], list]:
    """{row key: its results, one per seed in seed order} of scored runs and submitted systems."""
    when = {id(r): pd.Timestamp(r.created) for r in results}  # with or without milliseconds
    found: dict[tuple, list] = {}
    for r in sorted(results, key=lambda r: when[id(r)]):
        found.setdefault(row_key(r), []).append(r)
    chosen = {}
    for key, rows in found.items():
        newest = rows[-1]
        if key[2] == "submitted":
            chosen[key] = [newest]
            continue
        by_seed = {r.protocol.seed: r for r in rows if _made(r) == _made(newest)}  # the newest of each seed
        chosen[key] = [by_seed[s] for s in sorted(by_seed)]
    return chosen
