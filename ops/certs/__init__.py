"""cert-manager certificates: renewal-policy checks of the manifests and local chain issuance."""
