"""Free loopback ports for test servers (tests never use the stack's fixed default ports)."""

import random
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(size: int, low: int = 20000, high: int = 30000) -> int:
    """The first of `size` consecutive free ports (for servers that derive ports from a base)."""
    for _ in range(200):
        base = random.randrange(low, high - size)
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found")
