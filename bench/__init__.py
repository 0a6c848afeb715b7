"""The claude-any benchmark (`python -m bench.run` from the repository root); see README, "Performance"."""
