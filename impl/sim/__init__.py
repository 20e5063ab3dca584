"""impl.sim: the deterministic simulator of the fleet (one seed reproduces a run)."""
