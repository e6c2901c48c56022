"""imagewarden.inventory."""
