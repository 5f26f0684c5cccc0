"""Zero-downtime rotation of IAM user access keys into the repository's SealedSecrets."""
