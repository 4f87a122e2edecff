"""Real failure run: a reconfigurable gloo data-parallel job killed, taken over, rejoined (see `study`)."""
