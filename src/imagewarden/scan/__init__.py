"""imagewarden.scan."""
