"""colorbench list: the registered colourizers, and the metrics every run and score computes."""

from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stdout, use_json


def list_colorizers(json_output: JsonOption = False) -> None:
    """Show the registered colourizers (name, what it is, the paper it implements, its published weights) and metrics."""
    from colorbench import plugins
    from colorbench.weights import published

    use_json(json_output)
    rows = [
        {
            "name": cls.name, "description": cls.description, "paper": cls.paper, "stochastic": cls.stochastic, "version": cls.version,
            "published_weights": list(published.declared(cls)),
        }
        for cls in plugins.colorizers().values()
    ]
    measures = [
        {"name": m.name, "version": m.version, "kind": m.kind, "title": m.title, "higher_is_better": m.higher_is_better, "needs": m.needs or None, "description": m.description}
        for m in plugins.metrics().values()
    ]

    def render():
        weights = any(r["published_weights"] for r in rows)  # a column only when some method has them
        table = Table(title="colourizers", expand=True)
        table.add_column("name", no_wrap=True)
        table.add_column("description", ratio=2)  # the longest text: most of the width
        table.add_column("paper", ratio=1)
        for column in ["stochastic", *(["weights"] if weights else [])]:
            table.add_column(column)
        for r in rows:
            shown = [", ".join(r["published_weights"]) or "—"] if weights else []
            short = str(r["paper"]).split(": ", 1)[0]  # its tag ("Wan 2019 §3.1"), as the board shows it
            table.add_row(str(r["name"]), str(r["description"]), short, "yes" if r["stochastic"] else "no", *shown)
        stdout.print(table)
        stdout.print("paper: the paper (and section) each method follows; `--json` and README.md cite it in full.", highlight=False)
        if weights:
            stdout.print("weights: published weights `run` can load instead of training; see `colorbench weights list`.", highlight=False)
        table = Table("name", "column", "kind", "better", "needs", "definition", title="metrics")
        for m in measures:
            better = {True: "higher", False: "lower", None: "—"}[m["higher_is_better"]]
            table.add_row(m["name"], m["title"] or "—", m["kind"].replace("_", " "), better, m["needs"] or "—", m["description"])
        stdout.print(table)

    emit({"colorizers": rows, "metrics": measures}, json_output, render)
