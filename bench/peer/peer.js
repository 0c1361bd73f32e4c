// The peer: the same traffic served the way a Node team would serve it with the room
// platform's own stack, for the load tool's figures to be read against (docs/performance.md).
// It is a webhook-to-socket.io bridge in one Node process on socket.io 2.x's own server
// (the version the room's clients speak): it checks every webhook's Twilio signature
// (HMAC-SHA1, as Twilio documents it), keeps the roster in a Map (in memory: it stores nothing
// on disk, unlike the bridge), answers the incoming call with the same TwiML as the bridge,
// and on each participant's join and leave emits a presence event of the bridge's shape to
// the topic's room in the /chat namespace. Subscribers authenticate with an HS256 JWT in the
// handshake's query and subscribe with SUBSCRIBE_CHANNEL. /metrics serves the two figures the
// load tool reads (process CPU seconds and resident memory).
//
//   (cd bench && npm ci) && node bench/peer/peer.js -addr 127.0.0.1:8091 -auth-token T -jwt-secret S -public-url http://127.0.0.1:8091
//   go run ./bench -url http://127.0.0.1:8091 -auth-token T -jwt-secret S -rate 150 -calls 1500
'use strict';
const http = require('http');
const crypto = require('crypto');
const querystring = require('querystring');
const path = require('path');
const io = require(path.join(__dirname, '..', 'node_modules', 'socket.io'));

function flag(name, def) {
  const i = process.argv.indexOf('-' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const [host, port] = flag('addr', '127.0.0.1:8091').split(':');
const authToken = flag('auth-token', '');
const jwtSecret = flag('jwt-secret', '');
let publicURL = flag('public-url', '');
const maxBody = 64 << 10;

const twiml = '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Response><Dial timeLimit="14400"><Conference statusCallback="' + '{URL}/twilio/conference" ' +
  'statusCallbackEvent="start end join leave mute hold" startConferenceOnEnter="true" endConferenceOnExit="false" beep="false">' +
  '{TOPIC}</Conference></Dial></Response>';

// Twilio's signature: base64 HMAC-SHA1 of the URL followed by each parameter's name and
// value, sorted by name (bytewise, as Twilio sorts).
function signed(url, params, sig) {
  if (!authToken) return true;
  if (typeof sig !== 'string' || sig.length !== 28) return false;
  const mac = crypto.createHmac('sha1', authToken).update(url);
  for (const k of Object.keys(params).sort()) {
    const v = params[k];
    if (Array.isArray(v)) return false; // Twilio never repeats a parameter
    mac.update(k).update(v);
  }
  const want = Buffer.from(sig, 'base64');
  const got = mac.digest();
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

// HS256 JWT check: signature and expiry.
function tokenOK(token) {
  if (!jwtSecret) return true;
  if (typeof token !== 'string') return false;
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const sig = crypto.createHmac('sha256', jwtSecret).update(parts[0] + '.' + parts[1]).digest();
  const given = Buffer.from(parts[2], 'base64');
  if (given.length !== sig.length || !crypto.timingSafeEqual(given, sig)) return false;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64').toString());
    return !claims.exp || claims.exp * 1000 > Date.now();
  } catch (e) {
    return false;
  }
}

function mask(number) {
  const digits = String(number || '').replace(/\D/g, '');
  return digits.length < 4 ? 'Caller' : '+' + digits.slice(0, digits.length > 10 ? digits.length - 10 : 1) + ' ••• ' + digits.slice(-4);
}

const roster = new Map(); // CallSid → { topic, name, state, version }

function presence(sid, call, online) {
  return {
    _id: crypto.randomUUID(),
    category: online ? 'app.event.presence.party.online' : 'app.event.presence.party.leaves',
    topicId: call.topic,
    sender: { _id: sid, type: 'phone', username: '', displayname: call.name, picture_url: '' },
    content: {
      offline: !online, role: 'guest',
      mediaSession: { video: false, audio: true, connected: online, screenshare: false, selfMuted: false, phone: online },
      idle: false, desktop: false, emitedby: 'wcs', sessionId: sid,
    },
  };
}

const server = http.createServer();
const sio = io(server, { serveClient: false, pingInterval: 25000, pingTimeout: 60000, maxHttpBufferSize: 16 << 10 });
const chat = sio.of('/chat');
chat.use((socket, next) => (tokenOK(socket.handshake.query.token) ? next() : next(new Error('unauthorized'))));
chat.on('connection', (socket) => {
  socket.on('SUBSCRIBE_CHANNEL', (msg) => {
    const ch = msg && msg.channel;
    if (!ch || typeof ch._id !== 'string' || ch.type !== 'topic') {
      socket.emit('SUBSCRIBE_CHANNEL_FAILED', { channel: ch, error: 'invalid channel' });
      return;
    }
    socket.join(ch._id);
    socket.emit('CHANNEL_SUBSCRIBED', { channel: { _id: ch._id, type: 'topic' } });
  });
});

function webhook(req, res, params) {
  const url = (publicURL || 'http://' + req.headers.host) + req.url;
  if (!signed(url, params, req.headers['x-twilio-signature'])) {
    res.writeHead(403, { 'Content-Type': 'text/plain' });
    res.end('invalid Twilio signature\n');
    return;
  }
  const sid = params.CallSid;
  if (req.url === '/twilio/voice') {
    const topic = params['SipHeader_X-Topic-Id'] || '';
    if (!roster.has(sid)) roster.set(sid, { topic, name: mask(params.From), state: 'routing', version: 0 });
    res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
    res.end(twiml.replace('{URL}', publicURL).replace('{TOPIC}', topic));
    return;
  }
  if (req.url === '/twilio/conference') {
    const call = roster.get(sid);
    const event = params.StatusCallbackEvent;
    const seq = Number(params.SequenceNumber) || 0;
    if (call && seq > call.version && (event === 'participant-join' || event === 'participant-leave')) {
      call.version = seq;
      const online = event === 'participant-join';
      call.state = online ? 'online' : 'ended';
      chat.to(call.topic).emit('PRESENCE_EVENT_RESPONSE', presence(sid, call, online));
    }
  } else if (req.url === '/twilio/status') {
    if (params.CallStatus === 'completed') {
      const call = roster.get(sid);
      if (call && call.state === 'ended') roster.delete(sid);
    }
  }
  res.writeHead(204);
  res.end();
}

let lastCPU = 0;
server.on('request', (req, res) => {
  if (req.url.startsWith('/socket.io/')) return; // socket.io's own listener answers
  if (req.method === 'GET' && req.url === '/metrics') {
    const cpu = process.cpuUsage();
    lastCPU = (cpu.user + cpu.system) / 1e6;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end('process_cpu_seconds_total ' + lastCPU + '\nprocess_resident_memory_bytes ' + process.memoryUsage().rss + '\n');
    return;
  }
  if (req.method === 'GET' && req.url === '/readyz') {
    res.end('ok\n');
    return;
  }
  if (req.method !== 'POST' || !req.url.startsWith('/twilio/')) {
    res.writeHead(404);
    res.end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > maxBody) {
      res.writeHead(413);
      res.end('request body over 64 KiB\n');
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (size > maxBody) return;
    webhook(req, res, querystring.parse(Buffer.concat(chunks).toString()));
  });
});

server.listen(Number(port), host, () => {
  const a = server.address();
  if (!publicURL) publicURL = 'http://' + a.address + ':' + a.port;
  process.stdout.write('peer listening on http://' + a.address + ':' + a.port + '\n');
});
