"""One module per screen (SCREEN is its class), each with its .kv file beside it."""
