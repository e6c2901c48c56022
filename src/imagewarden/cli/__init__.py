"""imagewarden.cli."""
