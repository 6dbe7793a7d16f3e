"""kubectl-clusternet: many Kubernetes clusters from one parent, compatible with Clusternet.

Importing this package must stay cheap: it holds the version only.
"""

__version__ = "0.1.0"
