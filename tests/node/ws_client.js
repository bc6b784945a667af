// MQTT.js over ws:// or wss:// for tests/test_ws.py: subscribes to PREFIX/#, publishes each message of
// argv[4] (JSON [[topic, size, qos], ...]), waits for them to come back, disconnects; prints what it
// received as JSON on stdout. Usage: node ws_client.js URL CLIENT_ID CA_FILE|"" MESSAGES_JSON
const mqtt = require("mqtt");
const fs = require("fs");
const crypto = require("crypto"); // random payloads: permessage-deflate leaves them their size
const [url, clientId, ca, messages] = process.argv.slice(2);
const msgs = JSON.parse(messages);
const opts = { clientId, protocolVersion: 4, reconnectPeriod: 0 };
if (ca) opts.ca = fs.readFileSync(ca);
const client = mqtt.connect(url, opts);
const got = [];
const timer = setTimeout(() => { console.error("timeout"); process.exit(2); }, 15000);
client.on("error", (e) => { console.error(String(e)); process.exit(3); });
client.on("message", (topic, payload) => {
  got.push([topic, payload.length]);
  if (got.length === msgs.length) {
    client.end(false, () => { clearTimeout(timer); console.log(JSON.stringify(got)); });
  }
});
client.on("connect", () => {
  client.subscribe(msgs[0][0].split("/")[0] + "/#", { qos: 1 }, () => {
    for (const [topic, size, qos] of msgs) client.publish(topic, crypto.randomBytes(size), { qos });
  });
});
