"""imagewarden: a self-hosted container-image security inventory speaking the TCSS API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
