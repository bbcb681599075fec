"""A Kubernetes API emulator that kubectl and kubernetes.core use unchanged."""
