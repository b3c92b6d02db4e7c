"""kubectl-taskops as a krew plugin: the manifest template (`taskops.yaml`), its
rendering and checks (`manifest`), the per-platform archives and krew's own test of
them (`release`, run by `make krew`)."""
