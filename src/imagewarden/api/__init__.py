"""imagewarden.api."""
