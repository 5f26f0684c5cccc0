"""The whole-cluster first-sync dry run: the apply order Argo CD follows on a fresh cluster, and what
each object needs (CRD, Secret, ConfigMap, Service, StorageClass, ...) at the moment it is applied."""
