"""Card terminal over nexo Sale-to-POI (Adyen Terminal API, local): message security, messages, a
client, and a simulator that speaks the same protocol. Knows nothing of the till."""
