"""League: snapshot registry, checkpoints and self-play bookkeeping."""
