"""The session layer: MQTT connections, clients and their exchanges across packets (tracker.py),
its generated fields (fields.py) and how they join the detail tree (tree.py)."""
