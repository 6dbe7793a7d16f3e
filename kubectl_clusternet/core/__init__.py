"""The shared library of kubectl-clusternet, hub_lite and agent_lite.

Nothing here prints, exits, or imports click or rich: the CLI and the daemons are thin layers on top.
"""
