// Subscribers for the load tool: S real socket.io-client 2.x connections in one process, all
// subscribed to one topic. It counts every PRESENCE_EVENT_RESPONSE by call and category with
// the time the last subscriber got it, and prints that summary when asked.
//
//   node subscribers.js URL TOPIC COUNT [TOKEN]
// stdout: "ready N" once all are subscribed; then, for each "count CATEGORY" line on stdin,
// the number of events of that category received so far (cheap, asked while events are still
// arriving), and for each "dump" line one JSON line
// {"<sid> <category>": [count, firstMicros, lastMicros], ...}.
'use strict';
const io = require('socket.io-client');
const { performance } = require('perf_hooks');
const readline = require('readline');

const [url, topic, countArg, token] = process.argv.slice(2);
const count = parseInt(countArg, 10);
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const seen = new Map();
const totals = new Map();
let subscribed = 0;
const sockets = [];

for (let i = 0; i < count; i++) {
  const opts = { transports: ['websocket'], reconnection: false, forceNew: true };
  if (token) opts.query = { token, tokenType: 'jwt' };
  const s = io(url + '/chat', opts);
  sockets.push(s);
  s.on('connect', () => s.emit('SUBSCRIBE_CHANNEL', { channel: { _id: topic, type: 'topic' } }));
  s.on('CHANNEL_SUBSCRIBED', () => {
    subscribed++;
    if (subscribed === count) process.stdout.write(`ready ${count}\n`);
  });
  s.on('SUBSCRIBE_CHANNEL_FAILED', (m) => { process.stderr.write(`subscribe failed: ${JSON.stringify(m)}\n`); process.exit(3); });
  s.on('connect_error', (e) => { process.stderr.write(`connect error: ${e}\n`); process.exit(3); });
  s.on('PRESENCE_EVENT_RESPONSE', (ev) => {
    const t = nowMicros();
    const key = (ev.sender && ev.sender._id) + ' ' + ev.category;
    const rec = seen.get(key);
    if (rec) { rec[0]++; rec[2] = t; } else { seen.set(key, [1, t, t]); }
    totals.set(ev.category, (totals.get(ev.category) || 0) + 1);
  });
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'count') {
    process.stdout.write(`${totals.get(arg) || 0}\n`);
  } else if (cmd === 'dump') {
    process.stdout.write(JSON.stringify(Object.fromEntries(seen)) + '\n');
  }
}).on('close', () => {
  sockets.forEach((s) => s.close());
  process.exit(0);
});
