"""colorbench run: train a method or load its weights (nothing, for a baseline), score it, store the result."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.text import Text
from rich.table import Table

from colorbench.cli.output import JsonOption, MetricsOption, emit, exit_after_output, stderr, stdout, use_json, warn
from colorbench.reporting.results import DEFAULT_DIR


def diversity_threshold() -> float:
    from colorbench.scoring.diversity import NOISE_IGNORED_LPIPS

    return NOISE_IGNORED_LPIPS


MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit


def listed(items: list[str], shown: int = 5) -> str:
    """The first few of a list, and how many more: every one is in the result or --json."""
    return "; ".join(items[:shown]) + (f"; and {len(items) - shown} more" if len(items) > shown else "")


class Profile(str, Enum):
    smoke = "smoke"
    quick = "quick"
    full = "full"


class Precision(str, Enum):  # colorbench.training.trainer.PRECISIONS
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def parse_seeds(seeds: Optional[str], seed: Optional[int]) -> list[int]:
    """--seeds 0,1,2 as [0, 1, 2]; without it, [--seed] (default 0)."""
    from colorbench.errors import UsageError

    if seeds is None:
        return [0 if seed is None else seed]
    if seed is not None:
        raise UsageError("--seed and --seeds both choose the seeds: pass one of them")
    try:
        found = [int(s) for s in seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {seeds!r}: give seeds as comma-separated whole numbers, e.g. --seeds 0,1,2") from None
    if bad := [s for s in found if not 0 <= s <= MAX_SEED]:
        raise UsageError(f"--seeds: {bad[0]} is not a seed from 0 to {MAX_SEED}")
    if len(set(found)) != len(found):
        raise UsageError(f"--seeds {seeds}: a seed is repeated; each seed trains the method once")
    return found


def fixed_by_weights(classes: list, source, meta: dict | None, *, profile: Optional[Profile], size: Optional[int], overrides: dict) -> tuple[str, Optional[int], str]:
    """The profile and working size of a run that loads weights: a checkpoint's
    (the profile it was trained at, when it records one) or published weights'
    size; a --profile or --size that differs is a usage error. Else --profile
    (default quick) and --size. Third: the weights that fixed the size, if any."""
    from colorbench.errors import UsageError
    from colorbench.methods.colorizer import PROFILES
    from colorbench.run_settings import Published
    from colorbench.weights import published

    cls, profile_name, fixed, made = classes[0], profile.value if profile else "quick", None, ""
    if meta is not None:
        fixed, made = meta["size"], f"checkpoint {source.path}"
        if meta.get("profile") in (cls.profiles or PROFILES):
            if profile is not None and profile.value != meta["profile"]:
                raise UsageError(f"--profile {profile.value}: {made} was trained at profile {meta['profile']}, and its result is recorded so; leave --profile out")
            profile_name = meta["profile"]
    elif isinstance(source, Published) or len(classes) == 1 and published.loads_by_default(cls, profile_name):
        name, declared = published.choose(cls, source.name if source else None)
        fixed, made = declared.size, f"{cls.name}'s published weights {name!r}"
        if source is None and overrides:
            raise UsageError(f"--set: {cls.name} runs from its published weights, made with their own config; leave --set out")
    if fixed is not None and size is not None and size != fixed:
        raise UsageError(f"--size {size}: {made} works at {fixed}x{fixed} and is scored at that size; leave --size out")
    return profile_name, fixed or size, made


def run(
    plugin: Annotated[
        Optional[str], typer.Option("--plugin", "-p", help="Method(s) to run, comma-separated; see `colorbench list`.")
    ] = None,
    all_methods: Annotated[bool, typer.Option("--all", help="Run every registered method.")] = False,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="builtin, folder:PATH, cifar10, cifar10:subset-6k, or a published protocol: imagenet:val5k, imagenet:ctest10k, imagenet:val50k, coco:val2017, ade20k:val (with --data-dir).")] = "builtin",
    profile: Annotated[
        Optional[Profile],
        typer.Option(
            help="Training budget: smoke (seconds), quick (minutes on a CPU), full (the paper's scale). "
            "Default: quick; with --checkpoint, the one it was trained at.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help="Seeds weights, noise and crops: a CPU run is repeatable. Default 0.", min=0, max=MAX_SEED, show_default=False)
    ] = None,
    seeds: Annotated[
        Optional[str],
        typer.Option(help="Train and score each method once per seed, e.g. 0,1,2: the table shows the mean over seeds; the board's "
                     "intervals cover training and test images. A method with no weights and no noise (gray) runs once.", show_default=False),
    ] = None,
    device: Annotated[str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")] = "auto",
    size: Annotated[
        Optional[int], typer.Option(help="Working size in pixels (a power of two); default: the dataset's, or the loaded weights'.")
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Where a downloadable dataset is (or goes).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for result files and checkpoints.")] = DEFAULT_DIR,
    settings: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting of the method's config: --set l1_weight=50 (repeatable).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the last unfinished run started the same way (after a crash).")] = False,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option(help="Score this checkpoint (the .safetensors `run` saved) instead of training, at its working size; --plugin defaults to its method."),
    ] = None,
    weights: Annotated[
        Optional[str],
        typer.Option(help="Score the method's published weights of this name instead of training (see `colorbench weights list`); "
                     "a method that trains nothing runs from its first by default."),
    ] = None,
    weights_file: Annotated[
        Optional[Path], typer.Option(help="A downloaded copy of those published weights: checked against their sha256, then cached (offline use).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes making training batches: 0 in this process (colorbench's numbers); 1 or more: other numbers, the same for any count.", min=0, max=64)
    ] = 0,
    precision: Annotated[Precision, typer.Option(help="Training arithmetic: fp32, or autocast to bf16 or fp16 (other numbers).")] = Precision.fp32,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Train convolutional networks in channels-last memory format (faster on CUDA GPUs).")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="Compile the networks for training with torch.compile (minutes of compiling first).")] = False,
    nproc: Annotated[
        int, typer.Option(help="Train on N processes of this machine, one per GPU (or gloo on the CPU), started by torchrun; "
                          "batch_size stays the global batch. Several machines: see README, Training at scale.", min=1)
    ] = 1,
    checkpoint_every: Annotated[
        int, typer.Option(help="Save the training state every N steps (0: every 10 minutes of training).", min=0)
    ] = 0,
    strict: Annotated[bool, typer.Option(help="Refuse a dataset with anything it would skip (unreadable images or folders, images outside train/ and test/, grayscale test images) instead of skipping it.")] = False,
    samples: Annotated[
        Optional[int],
        typer.Option(help="Samples per test image to measure a stochastic method's diversity (default: 3 at smoke, 8 otherwise).", min=1),
    ] = None,
    baseline: Annotated[bool, typer.Option(help="Also score the zero-chroma `gray` baseline on the same images.")] = True,
    metrics: MetricsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Train methods, or load their weights, on a dataset; score them beside the gray baseline, and store the results.

    With --checkpoint or --weights nothing is trained: the method is scored with the
    weights loaded, and its result says which. A method that fails is recorded as an
    error row and the others go on; the exit status is then 1."""
    import dataclasses

    from colorbench import devices, outputs, plugins, runner
    from colorbench.data import datasets
    from colorbench.run_settings import Checkpoint, Published, RunSettings
    from colorbench.scoring import evaluate, seed_groups, selection
    from colorbench.training import checkpoints
    from colorbench.cli.output import invocation
    from colorbench.errors import UsageError, UserError

    from colorbench.training import distributed

    if nproc > 1:  # torchrun runs this command on each process (their output is theirs), which does the rest
        import sys

        try:
            distributed.launch(nproc, distributed.strip_nproc(sys.argv[1:]), debug=invocation.debug)
        except UserError:
            use_json(json_output)  # said as this command's one error
            raise
        return
    world = distributed.world()
    use_json(json_output and world.main)  # one JSON object: rank 0's
    if not world.main:
        stderr.quiet = True  # rank 0 shows progress and warnings
    if world.distributed and distributed.launched():
        distributed.stop_quietly_when_told()
    if checkpoint is not None and (weights is not None or weights_file is not None):
        raise UsageError("--checkpoint and --weights/--weights-file are two sources of weights: pass one")
    source = Checkpoint(checkpoint) if checkpoint is not None else Published(weights, weights_file) if weights or weights_file else None
    seed_list = parse_seeds(seeds, seed)
    if source is not None and len(seed_list) > 1:
        raise UsageError(f"--seeds trains each method once per seed; {source.flag} loads weights instead of training: pass one of them")
    seed = seed_list[0]
    if source is not None and all_methods:
        raise UsageError(f"{source.flag} loads one method's weights: name it with --plugin NAME, not --all")
    meta = checkpoints.read_config(checkpoint) if checkpoint is not None else None
    if meta is not None and plugin is None:
        plugin = meta["plugin"]  # the method that made it
    if all_methods == (plugin is not None):
        raise UsageError("name the method(s) with --plugin NAME[,NAME...], or pass --all")
    names = sorted(plugins.colorizers()) if all_methods else [n.strip() for n in plugin.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--plugin {plugin!r} names no method; see `colorbench list`")
    if source is not None and len(names) != 1:
        raise UsageError(f"{source.flag} loads one method's weights: run the others separately")
    classes = [plugins.get_colorizer(n) for n in names]  # every name checked before anything runs
    if settings and len(classes) != 1:
        raise UsageError("--set applies to one method: run the others separately")
    overrides = classes[0].parse_overrides(settings) if settings else {}
    if meta is not None:
        checkpoints.check_plugin(checkpoint, meta, names[0])
    chosen = tuple(selection.select(metrics))  # a misspelt name: refused before any work
    profile_name, working_size, fixed_by = fixed_by_weights(classes, source, meta, profile=profile, size=size, overrides=overrides)
    dev = distributed.device_for(devices.pick(device))
    run_settings = RunSettings(
        profile=profile_name, seed=seed, device=dev, out_dir=out, n_samples=samples, overrides=overrides, resume=resume,
        checkpoint_every=checkpoint_every, workers=workers, precision=precision.value, weights=source, metrics=chosen,
        channels_last=channels_last, compile=compile_,
    )
    baseline_settings = dataclasses.replace(run_settings, overrides={}, weights=None)
    if baseline and "gray" not in names:
        classes.append(plugins.get_colorizer("gray"))
    reads = {f"--data-dir {data_dir}": data_dir} if data_dir else {}
    if dataset.startswith("folder:") and dataset != "folder:":
        reads[f"the dataset folder {dataset[7:]}"] = Path(dataset[7:]).expanduser()
    # now, not after hours of training; and never where samples would join the dataset's images
    outputs.check_folder(out, subfolders=("checkpoints", "samples"), reads=reads)
    try:
        data = datasets.load(dataset, size=working_size, data_dir=data_dir, seed=seed)
    except UsageError as e:
        if not fixed_by or size is not None:
            raise
        raise UsageError(f"{fixed_by} works at {working_size}x{working_size}, which {dataset} cannot give: {e}") from None
    # Everything that would fail is found now, not after hours of training:
    for cls in classes:  # settings the method cannot work with, weights it cannot load, a batch, a model or samples too large
        runner.check(cls, data, run_settings if cls is classes[0] else baseline_settings)
    if skipped := data.card.get("unreadable_skipped"):
        if strict:
            raise UserError(f"--strict: {len(skipped)} unreadable image(s) or folder(s) in {data.name}: {listed(skipped)}")
        warn(f"skipped {len(skipped)} unreadable image(s) or folder(s): {listed(skipped)}")
    if not_used := data.card.get("not_used"):
        if strict:
            raise UserError(f"--strict: {len(not_used)} image(s) in {data.name} outside train/ and test/: {listed(not_used)}")
        warn(f"not using {len(not_used)} image(s) outside train/ and test/: {listed(not_used)}")
    try:  # the test images scoring will leave out; and the test set read as scoring reads it
        gray = evaluate.grayscale_ids(data.test)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{data.name}'s test images cannot be read as a batch ({runner.one_line(e)}): a bug in its dataset plugin?") from e
    if len(gray) == len(data.test):
        raise UserError(f"every test image of {data.name} is grayscale ({evaluate.GRAY_REASON}): nothing to score colourization on")
    if gray and strict:
        raise UserError(f"--strict: {len(gray)} grayscale test image(s) in {data.name} would not be scored ({evaluate.GRAY_REASON}): {listed(gray)}")
    if gray:
        warn(f"{len(gray)} grayscale test image(s) will not be scored ({evaluate.GRAY_REASON}): {listed(gray)}")
    stderr.print(
        f"{data.name}: {len(data.train)} training items, {len(data.test)} test images at {data.test_size}x{data.test_size}"
        + (f" (methods work at {data.size}x{data.size}; ab upsampled)" if data.test_size != data.size else "") + "; "
        f"profile {profile_name}, seed{'s ' + ','.join(map(str, seed_list)) if len(seed_list) > 1 else ' ' + str(seed)}, device {dev}",
        highlight=False,
    )
    done, failed = [], []
    runs = []
    for cls in classes:
        made = run_settings if cls is classes[0] else baseline_settings
        once = len(seed_list) > 1 and not runner.seed_matters(cls, data, made)  # gray: one result, whatever the seed
        runs += [(cls, dataclasses.replace(made, seed=s)) for s in (seed_list[:1] if once else seed_list)]
    for cls, settings_of_run in runs:
        if len(seed_list) > 1:
            stderr.print(f"{cls.name}: seed {settings_of_run.seed}", highlight=False)
        try:
            result = runner.run(cls, data, settings_of_run, console=stderr)
        except Exception as e:  # one method's failure must not cost the others their run
            if invocation.debug:
                raise
            message = runner.one_line(e)
            if world.distributed:  # but on several processes the others cannot go on without this one
                if distributed.launched() and distributed.lost(e):
                    raise SystemExit(1)  # another process stopped first: the launcher names it
                if not world.main:
                    distributed.say(message)
                raise UserError(message) from e
            warn(f"{cls.name} failed: {message}")
            failed.append({"plugin": cls.name, "status": "error", "error": message})
            continue
        if result is None:  # a process other than rank 0: it trained, rank 0 reports
            continue
        if result.status == "diverged":
            d = result.diverged
            failed.append({"plugin": cls.name, "status": "diverged", "error": f"diverged at step {d.step} ({d.phase}): {d.reason}", "file": result._path})
        else:
            done.append(result)

    def number(value, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def spread(r) -> str:
        d = r.diversity
        if not d.applicable:
            return "—"
        text = number(d.lpips, 4) if d.lpips is not None else f"σab {d.ab_std:.2f}"
        return text + ("!" if d.noise_ignored else "")

    def render():
        if not done:
            return
        first = done[0]
        by_method: dict[str, list] = {}  # each method's results, one per seed
        for r in done:
            by_method.setdefault(r.plugin.name, []).append(r)
        means = {name: seed_groups.summarize(rs).metrics for name, rs in by_method.items()}  # over seeds
        several = any(len(rs) > 1 for rs in by_method.values())
        # the metrics with a value: one computed for no method (FID (tv) offline) is a line below, not a column of n/a
        columns = {n: m for n, m in first.protocol.metrics.items() if m.title and any(r.metrics.get(n) is not None for r in done)}
        arrows = {True: " ↑", False: " ↓", None: ""}
        truth_cf = first.metrics.get("colourfulness_gt")
        table = Table(
            "method", *(["seeds"] if several else []), *(m.title + arrows[m.higher_is_better] for m in columns.values()), "diversity", "train s",
            title=f"{data.name}, {data.size} px, {first.protocol.dataset.scored} test images"
            + (f" (CF of the truth {truth_cf:.2f})" if truth_cf is not None else ""),
            title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
        )
        # gray first (every row is read against it), hint-based methods last (not comparable)
        for rs in sorted(by_method.values(), key=lambda rs: (bool(rs[0].plugin.hint), rs[0].plugin.name != "gray")):
            r = rs[-1]
            name = r.plugin.name + (" (hint)" if r.plugin.hint else "")
            values = [number(means[r.plugin.name].get(n), m.digits) for n, m in columns.items()]
            seeds_shown = [",".join(str(x.protocol.seed) for x in rs)] if several else []
            table.add_row(name, *seeds_shown, *values, spread(r), f"{sum(x.training.seconds for x in rs) / len(rs):.1f}")
        stdout.print(table)
        stochastic = [r for r in done if r.diversity.applicable]
        notes = ["Means over the test images and the seeds (train s: per seed); intervals over both: `colorbench leaderboard`; "
                 "per-image values, speed: the result files." if several else "Means over the test images; intervals, per-image values, speed: the result file."]
        if stochastic:
            notes.append(
                f"diversity: mean LPIPS between {stochastic[0].diversity.samples} samples per image; "
                f"! = noise ignored (< {diversity_threshold()})."
            )
        if any(r.plugin.hint for r in done):
            notes.append("(hint): given a hint at test time.")
        for note in notes:
            stdout.print(note, highlight=False)
        if excluded := first.protocol.dataset.excluded:
            stdout.print(f"{excluded} grayscale test image(s) excluded from scoring: {listed(first.protocol.dataset.excluded_ids)}", highlight=False)
        said = []  # each line once, however many seeds say it
        for r in done:
            seed_note = f" (seed {r.protocol.seed})" if len(by_method[r.plugin.name]) > 1 else ""
            if left := r.left_out_of_mean.get("psnr"):
                said.append(f"{r.plugin.name}{seed_note}: {left.count} image(s) identical to the truth left out of the PSNR mean (PSNR = +inf).")
            for metric, reason in r.not_computed.items():
                shown = (record.title if (record := r.protocol.metrics.get(metric)) else None) or metric
                said.append(f"{r.plugin.name}: {shown} not computed: {reason}")
            if r.diversity.noise_ignored:
                said.append(f"{r.plugin.name}{seed_note}: its samples barely differ: the method ignores its noise.")
            if native := r.native_output:  # a network that outputs RGB: its own output, beside the contract's
                said.append(
                    f"{r.plugin.name}{seed_note}: its own RGB output (before its ab is joined with the input's L): "
                    f"PSNR {native.metrics['psnr']:.2f}, lightness off the gray input by {native.metrics['lightness_error']:.2f} L*."
                )
        for line in dict.fromkeys(said):
            stdout.print(line, highlight=False)
        for r in done:
            stdout.print(f"result: {r._path}" + (f"\ncheckpoint: {r.checkpoint.path}" if r.checkpoint else ""), highlight=False)

    def render_all():
        render()
        for f in failed:
            stdout.print(Text.assemble((f"{f['plugin']}: {f['status']}", "red"), f": {f['error']}"), highlight=False)

    if not world.main:
        return
    emit(
        {"results": [r.shown() for r in done], "failed": failed},
        json_output,
        render_all,
    )
    if failed:
        exit_after_output(f"{len(failed)} of {len(classes)} method(s) did not finish: {', '.join(f['plugin'] + ' (' + f['status'] + ')' for f in failed)}")
