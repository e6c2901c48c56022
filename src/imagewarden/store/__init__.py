"""imagewarden.store."""
