"""emofuse."""
