"""Cloud-platform credentials in CONNECT (sniffer/credentials): paho clients log in to a real mosquitto
the way Alibaba Cloud IoT and Azure IoT Hub devices do, captured on lo by tcpdump; mqttsniff decodes
the parts and, given the device secret, says whether the password matches and why not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as mqtt
from capture_helpers import Tcpdump, needs_root
from conftest import REPO, start_broker

pytestmark = needs_root

PRODUCT, DEVICE, SECRET = "a1B2c3D4e5F", "boiler-7", "s3cr3t-Device-Key-0123456789abcd"
AZURE_KEY = base64.b64encode(b"azure-device-key-32-bytes-long!!").decode()


def aliyun_login(ts_ms: int, method: str = "hmacsha1", signed_with: str | None = None,
                 secret: str = SECRET) -> tuple[str, str, str]:  # fmt: skip
    core = "boiler7-fw2"
    content = f"clientId{core}deviceName{DEVICE}productKey{PRODUCT}timestamp{ts_ms}"
    digest = {"hmacsha1": hashlib.sha1, "hmacsha256": hashlib.sha256, "hmacmd5": hashlib.md5}[signed_with or method]
    password = hmac.new(secret.encode(), content.encode(), digest).hexdigest()
    return f"{core}|securemode=3,signmethod={method},timestamp={ts_ms}|", f"{DEVICE}&{PRODUCT}", password


def connect(port: int, client_id: str, username: str, password: str) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    c.username_pw_set(username, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def run(pcap: Path, port: int, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", f"tcp.port=={port},mqtt", *args],
                         capture_output=True, text=True, cwd=REPO, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_aliyun_and_azure_logins_decoded_and_checked(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    logins = [
        aliyun_login(now),  # right
        aliyun_login(now, secret="not-the-secret"),  # a wrong secret on the device
        aliyun_login(now - 86_400_000),  # signed a day ago: right, but the timestamp is noted
        aliyun_login(now, method="hmacsha1", signed_with="hmacsha256"),  # signed with another method
    ]
    sas_expiry = int(time.time()) - 3600
    sas = f"SharedAccessSignature sr=hub1.azure-devices.net%2Fdevices%2Fdev9&sig=YWJjZA%3D%3D&se={sas_expiry}"
    # a valid token for dev10, signed as Azure's SDKs sign: base64(HMAC-SHA256(key, encoded resource \n expiry))
    good_exp = int(time.time()) + 3600
    sr10 = quote("hub1.azure-devices.net/devices/dev10", safe="")
    sig10 = base64.b64encode(hmac.new(base64.b64decode(AZURE_KEY), f"{sr10}\n{good_exp}".encode(), hashlib.sha256)
                             .digest()).decode()  # fmt: skip
    sas10 = f"SharedAccessSignature sr={sr10}&sig={quote(sig10, safe='')}&se={good_exp}"
    with start_broker(tmp_path) as broker:
        dump = Tcpdump("lo", f"tcp port {broker.port}", tmp_path / "logins.pcap")
        try:
            for cid, user, pw in logins:
                connect(broker.port, cid, user, pw)
            connect(broker.port, "dev9", "hub1.azure-devices.net/dev9/?api-version=2021-04-12", sas)
            connect(broker.port, "dev10", "hub1.azure-devices.net/dev10/?api-version=2021-04-12", sas10)
        finally:
            dump.stop()
    pcap, port = tmp_path / "logins.pcap", broker.port
    secret = f"mqtt.secret:{PRODUCT}/{DEVICE}={SECRET}"
    out = run(pcap, port, "-o", secret, "-Y", "mqtt.msgtype == 1", "-T", "fields", "-E", "aggregator=|",
              "-e", "aliyun.device_name", "-e", "aliyun.product_key", "-e", "aliyun.signmethod",
              "-e", "aliyun.password_check", "-e", "azure.sas.resource", "-e", "_ws.expert.message")  # fmt: skip
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 6
    assert rows[0][:4] == [DEVICE, PRODUCT, "hmacsha1", "password matches (hmacsha1 over clientId, deviceName, "
                           "productKey, timestamp)"]  # fmt: skip
    assert rows[1][3] == "password does not match" and "does not match the device secret" in rows[1][5]
    # signed a day before `now`, captured a moment after it (seconds under load: 86401 s is as right)
    skew = re.search(r"The signed timestamp is (\d+) s before the capture", rows[2][5])
    assert rows[2][3].startswith("password matches") and skew is not None and 86400 <= int(skew[1]) <= 86460
    assert rows[3][3] == "password does not match: it is signed with hmacsha256, the client id says hmacsha1"
    assert rows[4][4] == "hub1.azure-devices.net/devices/dev9" and "The SAS token expired 36" in rows[4][5]
    azure = run(pcap, port, "-o", f"mqtt.secret:hub1.azure-devices.net/dev10={AZURE_KEY}", "-o",
                f"mqtt.secret:hub1.azure-devices.net/dev9={AZURE_KEY}", "-Y", "azure", "-T", "fields",
                "-e", "azure.device_id", "-e", "azure.sas.check")  # fmt: skip
    assert azure.splitlines() == ["dev9\tsignature does not match", "dev10\tsignature matches"]
    # without the secret: the parts, no verdict; the secret itself is never printed, in any output
    plain = run(pcap, port, "-Y", "aliyun", "-T", "fields", "-e", "aliyun.password_form", "-e", "aliyun.password_check")
    assert plain.splitlines()[0] == "40 hex digits (as 40 hex digits of hmacsha1)\t"
    for args in (["-V"], ["-T", "json"], ["-x"]):
        assert SECRET not in run(pcap, port, "-o", secret, *args)
    # the secret from secrets.toml (beside decoders.toml), out of the process list
    conf = tmp_path / "conf" / "mqttsniff"
    conf.mkdir(parents=True)
    (conf / "secrets.toml").write_text(f'[devices]\n"{PRODUCT}/{DEVICE}" = "{SECRET}"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "conf")}
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", f"tcp.port=={port},mqtt", "-Y",
                          "aliyun", "-T", "fields", "-e", "aliyun.password_check"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env=env)  # fmt: skip
    assert res.stdout.splitlines()[0].startswith("password matches"), res.stderr
    (conf / "secrets.toml").write_text(f'[devices]\n"{PRODUCT}/{DEVICE}" = {SECRET}\n')  # not TOML
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap)], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env=env)  # fmt: skip
    assert res.returncode == 2 and "not valid TOML" in res.stderr and SECRET not in res.stderr
    # -Y on a verdict
    assert run(pcap, port, "-o", secret, "-Y", 'aliyun.password_check contains "does not match"').count("Connect") == 2


# -- the seed device: the npm package aliyun-iot-mqtt 0.0.1 ------------------------------------------

SEED_SCRIPT = r"""
// aliyun-iot-mqtt connects to <productKey>.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883: point it at the
// test's broker (what an /etc/hosts line and a port forward would do), and let the test set the clock.
const net = require('net');
const port = parseInt(process.env.BROKER_PORT, 10);
const orig = net.createConnection;
net.createConnection = function (...args) {
  if (typeof args[0] === 'object') { args[0] = Object.assign({}, args[0], { port: port, host: '127.0.0.1' }); }
  else { args[0] = port; args[1] = '127.0.0.1'; }
  return orig.apply(this, args);
};
if (process.env.NOW_MS) { const t = parseInt(process.env.NOW_MS, 10); Date.now = () => t; }
const aliyun = require('aliyun-iot-mqtt');
const c = aliyun.getAliyunIotMqttClient({ productKey: process.env.PK, deviceName: process.env.DN,
  deviceSecret: process.env.DS, regionId: 'cn-shanghai' });
c.on('connect', () => c.end());
c.on('error', (e) => { console.error(String(e)); process.exit(1); });
c.on('close', () => process.exit(0));
setTimeout(() => process.exit(2), 10000);
"""


def test_seed_device_aliyun_iot_mqtt_npm_package(tmp_path: Path) -> None:
    from conftest import require_tool

    npm, node = require_tool("npm"), require_tool("node")
    pkg = tmp_path / "seed"
    pkg.mkdir()
    res = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "aliyun-iot-mqtt@0.0.1"],
                         cwd=pkg, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (pkg / "seed.js").write_text(SEED_SCRIPT)
    day_ago = int(time.time() * 1000) - 86_400_000
    with start_broker(tmp_path) as broker:
        dump = Tcpdump("lo", f"tcp port {broker.port}", tmp_path / "seed.pcap")
        try:
            for secret, now in ((SECRET, ""), ("wrong-secret", ""), (SECRET, str(day_ago))):
                env = {"BROKER_PORT": str(broker.port), "PK": PRODUCT, "DN": DEVICE, "DS": secret, "NOW_MS": now,
                       "PATH": "/usr/bin:/bin"}  # fmt: skip
                r = subprocess.run([node, "seed.js"], cwd=pkg, env=env, capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, r.stderr
        finally:
            dump.stop()
    fields = ["-T", "fields", "-e", "aliyun.password_check", "-e", "_ws.expert.message"]
    out = run(tmp_path / "seed.pcap", broker.port, "-o", f"mqtt.secret:{PRODUCT}/{DEVICE}={SECRET}", "-Y",
              "mqtt.msgtype == 1", *fields)  # fmt: skip
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 3
    matched = "password matches (hmacsha1 over clientId, deviceName, productKey, regionId=cn-shanghai, timestamp)"
    assert rows[0] == [matched, ""]
    assert rows[1][0] == "password does not match" and "does not match the device secret" in rows[1][1]
    assert rows[2][0] == matched and re.search(r"The signed timestamp is 864\d\d s before the capture time", rows[2][1])
