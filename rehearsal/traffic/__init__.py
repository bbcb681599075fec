"""The rehearsal traffic plane: real nginx configured from HTTPRoutes, Ingresses and OpenShift Routes."""
