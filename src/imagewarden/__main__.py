from imagewarden.cli.main import app

app(prog_name="imagewarden")
