"""The pairing relay: an RFC 8628-style device grant in front of Visma Connect.

Visma Connect has no device-code grant, and its Web clients need a client secret, which must never sit
on a till. The vendor hosts this small service: the till asks it for a device code, the installer logs
in on a phone, and the relay (holding the secret) exchanges the code and hands the tokens to the till
once. Later refreshes go through the relay too. It keeps nothing but pairings in progress, in memory."""

from relay.app import RelayServer, make_relay
from relay.config import RelayConfig, load_config

__all__ = ["RelayConfig", "RelayServer", "load_config", "make_relay"]
