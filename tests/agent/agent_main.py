"""``python -m tests.agent.agent_main agent ...``: the agent command on its own Typer app, for
process tests while ``imagewarden.cli.main`` does not register it yet."""

from __future__ import annotations

import typer

from imagewarden.cli.agent_cmd import register

app = typer.Typer()


@app.callback()
def main() -> None:
    """imagewarden (agent only)."""


register(app)

if __name__ == "__main__":
    app()
