"""colorbench score: score a folder of colourized images against a folder of ground truth."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from colorbench.cli.output import JsonOption, MetricsOption, emit, exit_after_output, stderr, stdout, use_json
from colorbench.text import printable

_SHOWN_PER_KIND = 20


def score(
    ground_truth: Annotated[Path, typer.Argument(help="Folder of ground-truth images.", show_default=False)],
    predictions: Annotated[Path, typer.Argument(help="Folder of colourized images, paired by relative path without suffix.", show_default=False)],
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Also write the full result (per-image values too) to this JSON file, for `colorbench compare`; "
                     "with --dataset, the results folder the result goes into (default ./colorbench-results/).", show_default=False),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the --out file if it exists.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    strict: Annotated[bool, typer.Option(help="Refuse to score unless every image is scored (no grayscale ground truth left out).")] = False,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", "-d", help="Score a system's outputs on this dataset's test set (GT: its images, as `colorbench export` "
                     "writes them), as a board row: needs --name and --paper.", show_default=False),
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Where --dataset's files are.", show_default=False)] = None,
    size: Annotated[Optional[int], typer.Option(help="--dataset's working size, as for `run` (default: the dataset's).", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="With --dataset: the system's name on the board (lower-case letters, digits, _).", show_default=False)] = None,
    paper: Annotated[Optional[str], typer.Option(help='With --dataset: its paper, "Authors, \"Title\", venue year".', show_default=False)] = None,
    metrics: MetricsOption = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Processes decoding images while this one scores (0: decode here too); the numbers are the same "
                                    "with any count. Default: one per CPU, at most 4.", min=0, show_default=False),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Score any colourized images (PSNR, SSIM, LPIPS, colourfulness, FID, KID) against ground truth, as `run` does.

    GT/cat/1.jpg pairs with PRED/cat/1.png. Images are scored at their own size.
    Grayscale ground truths are left out, counted and named (--strict refuses
    them). Anything missing, extra, unreadable (a folder too) or of a mismatched
    size is listed and nothing is scored.

    With --dataset D --name N --paper P, PRED is another system's outputs on D's
    test set: GT must be D's test images exactly (`colorbench export D`), and the
    result, stored in --out's folder, is a row of D's table on the board."""
    from colorbench import devices, outputs
    from colorbench.errors import UsageError
    from colorbench.reporting import results
    from colorbench.scoring import selection
    from colorbench.scoring.folder_scoring import EVALUATION_RULE, PAIRING_RULE, ScoreProblems, default_workers, score_folders

    use_json(json_output)
    chosen = selection.select(metrics)
    if dataset is None and (name or paper or data_dir or size):
        raise UsageError("--name, --paper, --data-dir and --size describe a system scored on a dataset: pass --dataset too")
    if dataset is not None:
        return _submitted(ground_truth, predictions, dataset=dataset, data_dir=data_dir, size=size, name=name, paper=paper,
                          out=out, device=device, metrics=chosen, json_output=json_output)
    if out is not None:
        outputs.check_file(out, overwrite=overwrite, inputs=[ground_truth, predictions])
    dev = devices.pick(device)
    try:
        scored = score_folders(ground_truth, predictions, device=dev, strict=strict, metrics=chosen,
                               workers=default_workers() if workers is None else workers)
    except ScoreProblems as e:
        _refuse(e, json_output)

    dataset_record = {"name": f"folder:{ground_truth.resolve()}", "split": "all", "size": "own", "sizes": scored["sizes"], "count": scored["count"]}
    record = results.for_score(
        device=dev, dataset=dataset_record, pairing=PAIRING_RULE, evaluation=EVALUATION_RULE, predictions=predictions.resolve(), scored=scored,
        metrics=chosen,
    )
    result = results.as_read(record, out)  # what is shown is what --out stores
    if out is not None:
        outputs.write(out, results.dumps(record))
        stderr.print(f"result: {out}", highlight=False)
    emit(result.shown(), json_output, lambda: _render(result, f"{predictions} vs {ground_truth}"))


def _refuse(error, json_output: bool):
    """Every problem, listed (a few per kind; --json: all), then the one-line error."""
    problems = error.problems.as_dict()
    if json_output:
        emit({"error": str(error), "exit_code": 1, "problems": problems}, True, lambda: None)
    else:
        for kind, items in problems.items():
            stderr.print(f"{kind.replace('_', ' ')} ({len(items)}):", highlight=False)
            for item in items[:_SHOWN_PER_KIND]:
                stderr.print(f"  {printable(item)}", highlight=False)  # one line each, whatever the name holds
            if len(items) > _SHOWN_PER_KIND:
                stderr.print(f"  ... and {len(items) - _SHOWN_PER_KIND} more (--json lists all)", highlight=False)
    exit_after_output(str(error))


def _submitted(ground_truth: Path, predictions: Path, *, dataset: str, data_dir, size, name, paper, out, device, metrics, json_output) -> None:
    from colorbench import devices, outputs, plugins
    from colorbench.data import datasets
    from colorbench.errors import UsageError
    from colorbench.reporting import results
    from colorbench.scoring import submitted
    from colorbench.scoring.folder_scoring import ScoreProblems

    if not name or not paper:
        raise UsageError("--dataset scores a system for the board: name it with --name NAME and cite it with --paper 'Authors, \"Title\", venue year'")
    submitted.check_name(name)
    plugins.check_paper(name, paper)
    out = out if out is not None else results.DEFAULT_DIR
    reads = {"the ground truth": ground_truth, "the predictions": predictions, **({f"--data-dir {data_dir}": data_dir} if data_dir else {})}
    outputs.check_folder(out, reads=reads)
    dev = devices.pick(device)
    data = datasets.load(dataset, size=size, data_dir=data_dir)
    try:
        scored = submitted.score(ground_truth, predictions, data, device=dev, metrics=metrics)
    except ScoreProblems as e:
        _refuse(e, json_output)
    record = results.for_submitted(
        device=dev, name=name, paper=paper, predictions=predictions.resolve(), scored=scored, metrics=metrics,
        dataset={"name": data.name, "split": "test", "size": data.size, "test_size": data.test_size, "count": len(data.test), "card": data.card,
                 **({"photo_of": data.photo_of} if data.photo_of else {})},
    )
    path = Path(out) / f"{record['run_id']}.json"
    result = results.as_read(record, path)
    outputs.write(path, results.dumps(record))
    stderr.print(f"result: {path}", highlight=False)
    emit(result.shown(), json_output, lambda: _render(result, f"{name} on {data.name} (submitted outputs)"))


def _render(result, title: str) -> None:
    data = result.protocol.dataset
    table = Table("metric", "value", "95% interval", title=f"{title}: {data.scored} image(s)")
    for metric, value in result.metrics.items():
        ci = result.ci95.get(metric)
        record = result.protocol.metrics.get(metric)
        flag = " (biased: fewer than {:,} images)".format(record.reliable_from) if value is not None and record is not None and getattr(record, "reliable_from", 0) > data.scored else ""
        table.add_row(
            metric,
            "n/a" if value is None else f"{value:.4f}{flag}",
            "" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]",
        )
    stdout.print(table)
    if data.excluded:
        ids = data.excluded_ids
        listed = ", ".join(ids[:_SHOWN_PER_KIND]) + (f" and {len(ids) - _SHOWN_PER_KIND} more" if len(ids) > _SHOWN_PER_KIND else "")
        stdout.print(f"{data.excluded} grayscale ground-truth image(s) excluded from scoring: {listed}", highlight=False, soft_wrap=True)
    if left := result.left_out_of_mean.get("psnr"):
        stdout.print(f"{left.count} image(s) identical to the truth left out of the PSNR mean (PSNR = +inf).")
    for metric, reason in result.not_computed.items():
        stdout.print(f"{result.protocol.metrics[metric].title or metric} not computed: {reason}")
    if native := getattr(result, "native_output", None):
        psnr = native.metrics.get("psnr")  # absent when every output is its truth exactly (+inf)
        stdout.print(
            f"The outputs as submitted (before their ab is joined with the ground truth's L): PSNR {'+inf' if psnr is None else f'{psnr:.2f}'}, "
            f"lightness off the gray input by {native.metrics['lightness_error']:.2f} L*.",
            highlight=False,
        )
