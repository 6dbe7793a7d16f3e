"""Talking to Kubernetes: kubeconfig resolution (kubectl's rules) and a small REST client."""
