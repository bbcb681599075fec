"""The rehearsal stack's real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler built from source by tools/build-kube.sh) and the node agent that runs its pods."""
