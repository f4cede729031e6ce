"""Runtime: per-evaluation context, loaded libraries and the engine facade."""
