"""imagewarden.scan.analyzer."""
