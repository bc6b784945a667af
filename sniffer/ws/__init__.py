"""MQTT over WebSocket: the HTTP Upgrade and a passive RFC 6455 de-framer feeding MQTT (ws:// and wss://).

Only `conn` is imported by the pipeline; `tree` builds the layers of a frame's detail tree.
"""
