"""colorbench score: score a folder of colourized images against a folder of ground truth."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, exit_after_output, stderr, stdout, use_json
from colorbench.text import printable

_SHOWN_PER_KIND = 20


def score(
    ground_truth: Annotated[Path, typer.Argument(help="Folder of ground-truth images.", show_default=False)],
    predictions: Annotated[Path, typer.Argument(help="Folder of colourized images, paired by relative path without suffix.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the full result (per-image values too) to this JSON file, for `colorbench compare`.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the --out file if it exists.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    strict: Annotated[bool, typer.Option(help="Refuse to score unless every image is scored (no grayscale ground truth left out).")] = False,
    json_output: JsonOption = False,
) -> None:
    """Score any colourized images (PSNR, SSIM, LPIPS, colourfulness) against ground truth, as `run` does.

    GT/cat/1.jpg pairs with PRED/cat/1.png. Images are scored at their own size.
    Grayscale ground truths are left out, counted and named (--strict refuses
    them). Anything missing, extra, unreadable (a folder too) or of a mismatched
    size is listed and nothing is scored."""
    from colorbench import devices, outputs
    from colorbench.reporting import results
    from colorbench.scoring.folder_scoring import EVALUATION_RULE, PAIRING_RULE, ScoreProblems, score_folders

    use_json(json_output)
    if out is not None:
        outputs.check_file(out, overwrite=overwrite, inputs=[ground_truth, predictions])
    dev = devices.pick(device)
    try:
        scored = score_folders(ground_truth, predictions, device=dev, strict=strict)
    except ScoreProblems as e:
        problems = e.problems.as_dict()
        if json_output:
            emit({"error": str(e), "exit_code": 1, "problems": problems}, True, lambda: None)
        else:
            for kind, items in problems.items():
                stderr.print(f"{kind.replace('_', ' ')} ({len(items)}):", highlight=False)
                for item in items[:_SHOWN_PER_KIND]:
                    stderr.print(f"  {printable(item)}", highlight=False)  # one line each, whatever the name holds
                if len(items) > _SHOWN_PER_KIND:
                    stderr.print(f"  ... and {len(items) - _SHOWN_PER_KIND} more (--json lists all)", highlight=False)
        exit_after_output(str(e))

    dataset = {"name": f"folder:{ground_truth.resolve()}", "split": "all", "size": "own", "sizes": scored["sizes"], "count": scored["count"]}
    record = results.for_score(
        device=dev, dataset=dataset, pairing=PAIRING_RULE, evaluation=EVALUATION_RULE, predictions=predictions.resolve(), scored=scored
    )
    result = results.as_read(record, out)  # what is shown is what --out stores
    if out is not None:
        outputs.write(out, results.dumps(record))
        stderr.print(f"result: {out}", highlight=False)

    def render():
        data = result.protocol.dataset
        table = Table("metric", "value", "95% interval", title=f"{predictions} vs {ground_truth}: {data.scored} image(s)")
        for name, value in result.metrics.items():
            ci = result.ci95.get(name)
            table.add_row(
                name,
                "n/a" if value is None else f"{value:.4f}",
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

    emit(result.shown(), json_output, render)
