"""mqttsniff: a Wireshark-like MQTT sniffer for the terminal."""

__version__ = "0.1.0"
