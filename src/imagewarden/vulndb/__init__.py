"""imagewarden.vulndb."""
