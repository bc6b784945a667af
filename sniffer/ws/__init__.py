"""MQTT over WebSocket: the HTTP Upgrade and a passive RFC 6455 de-framer feeding MQTT (ws:// and wss://).

The pipeline imports `conn` (the de-framer) and `http` (Upgrade detection); `tree` builds the layers of a
frame's detail tree; `fields` registers the websocket.* and http.* fields.
"""
