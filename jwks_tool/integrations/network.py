"""What the integrations share about the network: which host is this machine (loopback).

    >>> is_loopback("127.0.0.1"), is_loopback("LOCALHOST"), is_loopback("::1"), is_loopback("kv.example")
    (True, True, True, False)

Plain http and no proxy are allowed to loopback hosts only (test servers on this machine): the AWS and Maskinporten
integrations decide that with this one function.
"""

from __future__ import annotations


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: ``localhost`` or a loopback IP address."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
