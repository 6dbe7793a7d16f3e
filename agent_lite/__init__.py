"""agent_lite."""
