"""agent-lite: the Clusternet agent that runs in every child cluster.

It keeps the cluster's identity (the UID of Lease ``clusternet-system/clusternet-agent``), registers with the
parent using a bootstrap token, stores and renews the credentials the hub issues, and reports the cluster's
status into its ManagedCluster. Run it as ``agent-lite`` (see ``agent-lite --help``).
"""
