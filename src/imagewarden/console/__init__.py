"""The web console: a static page that talks to the server only through TC3-signed actions.

``console_routes()`` maps exact paths (``/console``, ``/console/app.js``, ...) to small ASGI
callables; the server passes them to ``ApiApp(extra_routes=...)``.  No route here reads the
store: every piece of data the page shows comes from a signed POST to ``/``.
"""

from imagewarden.console.routes import CONSOLE_PATH, StaticAsset, console_routes

__all__ = ["CONSOLE_PATH", "StaticAsset", "console_routes"]
