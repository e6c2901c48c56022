"""imagewarden.scan.report."""
