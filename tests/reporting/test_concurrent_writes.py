"""Concurrent runs share a results folder without ever corrupting a file."""

import json
from concurrent.futures import ProcessPoolExecutor

from colorbench.reporting import results
from colorbench.files import write_atomic


def _write_results(args):
    out_dir, worker = args
    for i in range(20):
        result = {"schema_version": 1, "run_id": results.new_run_id("gray", "builtin"), "metrics": {"psnr": worker + i / 100}, "pad": "x" * 50_000}
        results.write(result, out_dir)
        # and all of them fight over one file name too
        write_atomic(out_dir / "shared.json", json.dumps({"worker": worker, "i": i, "pad": "y" * 200_000}).encode())
    return worker


def test_concurrent_runs_never_corrupt_results(tmp_path):
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_results, [(tmp_path, w) for w in range(4)]))
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 4 * 20 + 1  # unique run ids: nobody overwrote anybody
    for f in files:
        json.loads(f.read_text())  # every file complete
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
