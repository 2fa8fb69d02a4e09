"""Which metrics a scoring computes: ``--metrics`` on `run` and `score`.

FID costs seconds per hundred images on a CPU; a user who wants PSNR now should
not wait for it. The choice is a comma-separated list of metric names
(``psnr,ssim,lpips``: those only, with what they are computed from), or of names
to leave out (``-fid,-kid``: every registered metric but those). Without
``--metrics``, the environment variable below gives the default, and without it
every registered metric is computed. A result records the metrics it computed,
and only those: results computed with other metrics never share a table.
"""

from __future__ import annotations

import os

from colorbench.errors import UsageError, unknown_name

ENVIRONMENT = "COLORBENCH_METRICS"
"""The default of ``--metrics`` (same syntax), e.g. ``-fid,-kid,-fid_tv`` to leave the
Inception metrics out of every scoring."""


def select(spec: str | None = None) -> dict:
    """{name: Metric} of the metrics ``spec`` names, in the registry's order (each
    derived metric with its inputs); None: ``$COLORBENCH_METRICS``, or all."""
    from colorbench import plugins

    registered = plugins.metrics()
    if spec is None:
        spec = os.environ.get(ENVIRONMENT) or None
        if spec is None:
            return registered
        flag = f"${ENVIRONMENT}"
    else:
        flag = "--metrics"
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{flag} {spec!r} names no metric; known: {', '.join(registered)}")
    left_out = [n.startswith("-") for n in names]
    if any(left_out) and not all(left_out):
        raise UsageError(f"{flag} {spec!r}: name the metrics to compute, or those to leave out (each with a leading -), not both")
    bare = [n.removeprefix("-") for n in names]
    for name in bare:
        if name not in registered:
            raise unknown_name(f"metric in {flag}", name, registered)
    if all(left_out):
        chosen = {n for n in registered if n not in bare}
        needed_by = {m: n for n, metric in registered.items() if n in chosen for m in metric.inputs}
        if clash := [m for m in bare if m in needed_by]:
            raise UsageError(f"{flag}: {needed_by[clash[0]]} is computed from {clash[0]}; leave both out, or neither")
    else:
        chosen = set(bare) | {i for n in bare for i in registered[n].inputs}
    if not chosen:
        raise UsageError(f"{flag} {spec!r} leaves no metric to compute")
    return {n: m for n, m in registered.items() if n in chosen}
