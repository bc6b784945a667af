"""The UI in a real terminal: tmux runs `mqttsniff -i lo -f "tcp port $PORT"` as root while paho
clients talk through a test-started mosquitto; `tmux capture-pane` shows what a user would see.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.capture_helpers import Tmux
from tests.conftest import REPO, require_tool, start_broker

pytestmark = pytest.mark.usefixtures("root")  # live capture on lo: fails loudly without root


def _publish(port: int, topic: str, n: int) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ui-tmux-test", protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    for i in range(n):
        c.publish(topic, json.dumps({"seq": i, "temp": 21.5 + i}), qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def test_live_ui_in_tmux(tmp_path):
    require_tool("mosquitto")
    with start_broker(tmp_path) as broker:
        cmd = (
            f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m sniffer -i lo -f 'tcp port {broker.port}'"
            " ; echo EXITED $? ; sleep 30"  # Textual draws on stderr: it stays on the terminal
        )
        t = Tmux(cmd, "mqttsniff-ui", forbid=("Traceback",))
        try:
            t.wait_for(lambda s: "capturing" in s and f"tcp port {broker.port}" in s)
            _publish(broker.port, "ui/test/temp", 3)
            screen = t.wait_for(lambda s: "Publish Ack (id=3)" in s)  # tail mode: the newest rows are in view
            assert "Publish Message (id=3) [ui/test/temp]" in screen
            t.keys("g")  # back to the first packet: the connection's start
            # the detail of the selected first frame is drawn a moment after the list has moved
            t.wait_for(lambda s: "Connect Command" in s and "[SYN]" in s and "Frame 1:" in s)
            # the filtered view: only the PUBLISH frames. "/" and the filter arrive in one burst, as typed
            # fast over SSH or pasted: every key must land in the bar (the "q" once quit the UI)
            t.keys("-l", "/mqtt.msgtype == 3")
            t.keys("Enter")
            # the list and the status bar are drawn in separate refreshes: wait for both
            screen = t.wait_for(lambda s: "Connect Command" not in s and "shown 3" in s)
            rows = [ln for ln in screen.splitlines() if " MQTT " in ln]
            assert len(rows) == 3 and all("Publish Message" in r for r in rows), screen
            # the selected PUBLISH's detail (the cursor follows the last one)
            t.keys("G")
            screen = t.wait_for(lambda s: "Topic: ui/test/temp" in s)
            assert "MQ Telemetry Transport Protocol, Publish Message" in screen
            # the payload pane shows the JSON message as the dissector decoded it
            t.keys("p")
            screen = t.wait_for(lambda s: "Member: seq" in s)
            assert "Message decoded as: json" in screen and "JavaScript Object Notation" in screen
            # quitting a live capture that was not saved asks first
            t.keys("q")
            t.wait_for(lambda s: "not saved" in s)
            t.keys("y")
            screen = t.wait_for(lambda s: "EXITED" in s)
            assert "EXITED 0" in screen and "packets captured" in screen, t.history()  # the summary
        finally:
            t.close()


def test_bounded_live_ui_in_tmux(tmp_path):
    """--keep-frames on a real capture: the oldest frames leave the list with a note in the status bar, the
    list numbers on from there, and the first frame kept opens with its tree."""
    import re

    require_tool("mosquitto")
    with start_broker(tmp_path) as broker:
        cmd = (
            f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m sniffer -i lo -f 'tcp port {broker.port}'"
            " --keep-frames 40 ; echo EXITED $? ; sleep 30"
        )
        t = Tmux(cmd, "mqttsniff-keep", forbid=("Traceback",))
        try:
            t.wait_for(lambda s: "capturing" in s and f"tcp port {broker.port}" in s)
            _publish(broker.port, "ui/keep/temp", 30)
            t.wait_for(lambda s: "Publish Ack (id=30)" in s)
            _publish(broker.port, "ui/keep/more", 3)  # (the store that is full goes when frames come after it)
            screen = t.wait_for(lambda s: "Publish Ack (id=3)" in s and "left the list" in s)
            left = int(re.search(r"([\d,]+) left the list", screen).group(1).replace(",", ""))
            assert left >= 40
            t.keys("g")  # the first frame kept: numbered on from the frames that left
            screen = t.wait_for(lambda s, n=left + 1: f"Frame {n}:" in s)
            rows = [ln.split() for ln in screen.splitlines() if " TCP " in ln or " MQTT " in ln]
            assert rows and rows[0][0] == str(left + 1), screen  # the list's first row
            t.keys("q")
            t.wait_for(lambda s: "not saved" in s and "older ones left the list" in s)
            t.keys("y")
            screen = t.wait_for(lambda s: "EXITED" in s)
            assert "EXITED 0" in screen, t.history()
        finally:
            t.close()


def test_tmux_terminals_of_one_name_never_share_a_server():
    """Each Tmux is a server of its own: one opened while another of the same name runs, or right after
    it was closed, shows its own command. (They once shared a socket per name and process: a session
    started just after `kill-server` went to the dying server, whose screen stayed empty: CI failed so.)"""
    first = Tmux("echo FIRST; sleep 30", "mqttsniff-same")
    try:
        second = Tmux("echo SECOND; sleep 30", "mqttsniff-same")
        try:
            assert "SECOND" in second.wait_for(lambda s: "SECOND" in s, timeout=10)
            assert "FIRST" in first.wait_for(lambda s: "FIRST" in s, timeout=10)
        finally:
            second.close()
        assert "FIRST" in first.screen()  # closing one left the other running
    finally:
        first.close()
    for i in range(5):  # back to back, as consecutive tests open them
        t = Tmux(f"echo AGAIN{i}; sleep 30", "mqttsniff-same")
        try:
            t.wait_for(lambda s, i=i: f"AGAIN{i}" in s, timeout=10)
        finally:
            t.close()
