"""Callback URLs may only name hosts on an allow-list (no requests to arbitrary internal addresses)."""

from urllib.parse import urlsplit


class CallbackURLRefused(ValueError):
    """The URL is malformed, not http(s), carries credentials, or its host is not allowed."""


def host_allowed(host: str, port: int | None, allowed: list[str]) -> bool:
    """`example.com` (any port), `example.com:8443` (that port), `*.example.com` (subdomains only)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and (not entry_port.isdigit() or port != int(entry_port)):
            continue
        if name.startswith("*."):
            if host.endswith(name[1:]) and host != name[2:]:
                return True
        elif host == name:
            return True
    return False


def check_callback_url(url: str, allowed: list[str]) -> str:
    """The URL when it may be called back, else CallbackURLRefused saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise CallbackURLRefused(f"callback_url is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackURLRefused("callback_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise CallbackURLRefused("callback_url must not carry credentials")
    if not host_allowed(parts.hostname, port or (443 if parts.scheme == "https" else 80), allowed):
        where = ", ".join(allowed) if allowed else "none (set CALLBACK_ALLOWED_HOSTS)"
        raise CallbackURLRefused(
            f"callback_url host {parts.hostname!r} is not allowed; allowed hosts: {where}"
        )
    return url
