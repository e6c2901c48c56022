"""imagewarden.jobs."""
