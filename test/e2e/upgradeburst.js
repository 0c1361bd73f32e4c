// Room clients that connect the way browsers do (socket.io-client 2.x default transports:
// polling first, then upgraded to websocket) and emit at once: SUBSCRIBE_CHANNEL on connect,
// then their own presence online 0–100 ms later, each with an acknowledgement. A client is
// complete when both are acknowledged as accepted and nothing went wrong (no error, no
// disconnect) until the end.
//
//   node upgradeburst.js BASE_URL TOPIC COUNT TOKEN
// stdout: one JSON line {"complete": N, "upgraded": N, "failures": ["<client>: <what>", …]}
// once every client is complete or has failed, and a settling second has passed.
'use strict';
const io = require('socket.io-client');

const [base, topic, countArg, token] = process.argv.slice(2);
const count = parseInt(countArg, 10);
const failures = [];
const complete = new Set();
const done = new Set();
const sockets = [];

function finish(i, failure) {
  if (failure) failures.push(`${i}: ${failure}`);
  if (done.has(i)) return;
  done.add(i);
  if (!failure) complete.add(i);
  if (done.size === count) setTimeout(report, 1000);
}

function report() {
  let upgraded = 0;
  sockets.forEach((s) => { if (s.io.engine && s.io.engine.transport.name === 'websocket') upgraded++; });
  const good = [...complete].filter((i) => !failures.some((f) => f.startsWith(`${i}:`))).length;
  process.stdout.write(JSON.stringify({ complete: good, upgraded, failures }) + '\n');
  sockets.forEach((s) => s.close());
  process.exit(0);
}

for (let i = 0; i < count; i++) {
  const s = io(base + '/chat', { reconnection: false, forceNew: true, timeout: 10000, query: { token, tokenType: 'jwt' } });
  sockets.push(s);
  let subscribed = false;
  s.on('connect', () => {
    s.emit('SUBSCRIBE_CHANNEL', { channel: { _id: topic, type: 'topic' } }, (ack) => {
      if (!ack || !ack.channel || ack.error) { finish(i, 'subscribe answered ' + JSON.stringify(ack)); return; }
      subscribed = true;
    });
    setTimeout(() => {
      s.emit('SEND_PRESENCE_EVENT', {
        category: 'app.event.presence.party.online', topicId: topic,
        content: { offline: false, mediaSession: { audio: true, connected: true }, loopbackMetadata: i },
      }, (ack) => {
        if (!subscribed) { finish(i, 'presence answered before the subscription'); return; }
        if (!ack || ack.ok !== true) { finish(i, 'presence answered ' + JSON.stringify(ack)); return; }
        finish(i);
      });
    }, Math.floor(Math.random() * 101));
  });
  s.on('connect_error', (e) => finish(i, 'connect_error ' + (e && e.message || e)));
  s.on('error', (e) => finish(i, 'error ' + (e && e.message || e)));
  s.on('disconnect', (reason) => finish(i, 'disconnect ' + reason));
}
setTimeout(() => {
  for (let i = 0; i < count; i++) if (!done.has(i)) finish(i, 'not complete within 60 s');
}, 60000);
