"""imagewarden.scan.detect."""
