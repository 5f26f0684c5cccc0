"""Secrets as code: Sealed Secrets compatible sealing, unsealing and re-sealing.

The wire format is the one of the upstream controller (bitnami-labs/sealed-secrets, pkg/crypto):
``uint16 big-endian len(rsa_ct) || RSA-OAEP-SHA256(session_key, label) || AES-256-GCM(zero nonce)``.
"""
