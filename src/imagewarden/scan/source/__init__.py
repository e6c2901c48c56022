"""imagewarden.scan.source."""
