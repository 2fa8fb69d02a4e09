"""colorbench list: the registered colourizers."""

from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stdout, use_json


def list_colorizers(json_output: JsonOption = False) -> None:
    """Show the registered colourizers: name, what it is, the paper it implements."""
    from colorbench import plugins

    use_json(json_output)
    rows = [
        {"name": cls.name, "description": cls.description, "paper": cls.paper, "stochastic": cls.stochastic, "version": cls.version}
        for cls in plugins.colorizers().values()
    ]

    def render():
        table = Table("name", "description", "paper", "stochastic", title="colourizers")
        for r in rows:
            table.add_row(*(str(r[k]) for k in ("name", "description", "paper")), "yes" if r["stochastic"] else "no")
        stdout.print(table)

    emit({"colorizers": rows}, json_output, render)
