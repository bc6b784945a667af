"""Synthetic MQTT traffic: an MQTT encoder, a TCP flow builder and capture writers (tests, demo, benchmarks)."""
