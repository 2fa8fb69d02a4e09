"""colorbench plugins: installed plugin packages, their versions and hooks, and which are broken."""

from rich.table import Table
from rich.text import Text

from colorbench.cli.output import JsonOption, emit, stdout, use_json


def list_plugins(json_output: JsonOption = False) -> None:
    """Show installed plugins: distribution, version, hooks implemented, and status
    (a broken one is listed with its error; COLORBENCH_DISABLE_PLUGINS=a,b turns plugins off)."""
    from colorbench import plugins

    use_json(json_output)
    rows = plugins.installed()

    def render():
        table = Table("plugin", "distribution", "version", "hooks", "status", title="installed plugins")
        for r in rows:
            status = r["status"] if not r["error"] else f"broken: {r['error']}"
            colour = {"loaded": "green", "disabled": "yellow"}.get(r["status"], "red")
            table.add_row(*(str(r[k] or "") for k in ("name", "distribution", "version")), ", ".join(r["hooks"]), Text(status, style=colour))
        stdout.print(table)

    emit({"plugins": rows}, json_output, render)
