"""MQTT inside TLS: record layer, handshake parsing, key log and decryption (RFC 5246, RFC 8446).

Only `conn` is imported by the pipeline; `crypto` (and with it the `cryptography` package) is
imported the first time a connection has keys to use, so plain MQTT never pays for it.
"""
