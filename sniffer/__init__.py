"""mqttsniff: a Wireshark-like MQTT sniffer for the terminal."""

import os as _os

from sniffer import native as _native

__version__ = "0.1.0"

# Compiled hot path or its Python sources: decided before any of those modules is imported.
_native.select(_os.path.dirname(__file__))
