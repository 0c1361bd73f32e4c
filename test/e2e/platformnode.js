// One node of the room platform stand-in for the platform-mode tests: a real socket.io server
// clustered through the real socket.io Redis adapter, speaking the room protocol of contract §3
// to its own clients.
//
//   node platformnode.js PORT REDIS_URL ROOM_TEMPLATE JWT_SECRET [v2|v4]
//
// A REDIS_URL with master_name (go-redis's failover URL) names Sentinels: the v2 node then
// gives socket.io-redis ioredis clients that follow the Sentinels' master.
// v2 (default): socket.io 2.5 with socket.io-redis 5.4 (node redis 3.x, its default reconnect
// schedule). v4: socket.io 4 with @socket.io/redis-adapter 8 (node redis 4), accepting
// socket.io-client 2.x through allowEIO3.
//
// - SUBSCRIBE_CHANNEL joins the topic's room, named from ROOM_TEMPLATE ({topicId} replaced),
//   when the token grants the topic.
// - SEND_PRESENCE_EVENT from a subscriber is broadcast to the room as PRESENCE_EVENT_RESPONSE,
//   with a fresh _id and the sender from the token; party.removed only from an admin.
// Prints "listening" on stdout once it serves.
'use strict';
const http = require('http');
const crypto = require('crypto');

const [port, redisURL, roomTemplate, secret, version = 'v2'] = process.argv.slice(2);
const room = (topic) => roomTemplate.replace('{topicId}', topic);
const log = (...a) => process.stderr.write(`platform node ${port}: ${a.join(' ')}\n`);

function verify(token) {
  const [head, body, sig] = String(token || '').split('.');
  if (!sig) throw new Error('no token');
  const want = crypto.createHmac('sha256', secret).update(head + '.' + body).digest('base64')
    .replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  if (want !== sig) throw new Error('bad signature');
  const claims = JSON.parse(Buffer.from(body, 'base64').toString());
  if (!claims.exp || claims.exp * 1000 < Date.now()) throw new Error('expired');
  return claims;
}

async function main() {
const server = http.createServer();
let io;
if (version === 'v4') {
  const { Server } = require('socket.io-v4');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const { createClient } = require('redis4');
  const pub = createClient({ url: redisURL });
  const sub = pub.duplicate();
  pub.on('error', (e) => log('redis pub', e.message));
  sub.on('error', (e) => log('redis sub', e.message));
  io = new Server(server, { allowEIO3: true, cors: { origin: true, credentials: true } });
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
} else if (new URL(redisURL).searchParams.has('master_name')) {
  // A Redis run with Sentinel (go-redis's failover URL, as the bridge takes it): the adapter's
  // clients are ioredis clients that ask the Sentinels for the master and follow a promotion,
  // re-subscribing on their own, as a platform on Sentinel runs socket.io-redis.
  const Redis = require('ioredis');
  const redisAdapter = require('socket.io-redis');
  const u = new URL(redisURL);
  const sentinels = [u.host, ...u.searchParams.getAll('addr')].map((a) => {
    const i = a.lastIndexOf(':');
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  const opts = { sentinels, name: u.searchParams.get('master_name') };
  const pub = new Redis(opts);
  const sub = new Redis(opts);
  let last = '';
  const once = (what) => { if (what !== last) log(what, new Date().toISOString()); last = what; };
  pub.on('error', (e) => once('redis pub: ' + e.message));
  sub.on('error', (e) => once('redis sub: ' + e.message));
  sub.on('ready', () => log('redis sub ready', new Date().toISOString()));
  io = require('socket.io')(server);
  io.adapter(redisAdapter({ pubClient: pub, subClient: sub }));
} else {
  const redisAdapter = require('socket.io-redis');
  io = require('socket.io')(server);
  const u = new URL(redisURL);
  io.adapter(redisAdapter({ host: u.hostname, port: Number(u.port) }));
}

const nsp = io.of('/chat');
// Without these (one per namespace), a node crashes when Redis goes away (the adapter re-emits its clients' errors).
const onAdapterError = (e) => log('adapter', e && e.message);
io.of('/').adapter.on('error', onAdapterError);
nsp.adapter.on('error', onAdapterError);
io.of('/').on('connect', () => {});

nsp.use((socket, next) => {
  try {
    socket.claims = verify(socket.handshake.query.token);
    next();
  } catch (e) {
    next(new Error('invalid token: ' + e.message));
  }
});

nsp.on('connection', (socket) => {
  const claims = socket.claims;
  const topics = new Set();
  const sender = { _id: claims.sub, type: 'user', displayname: claims.name };
  const grants = (t) => (claims.topics || []).includes('*') || (claims.topics || []).includes(t);

  socket.on('SUBSCRIBE_CHANNEL', (req, ack) => {
    const channel = req && req.channel;
    const answer = (name, payload) => { socket.emit(name, payload); if (typeof ack === 'function') ack(payload); };
    if (!channel || typeof channel._id !== 'string' || !grants(channel._id)) {
      return answer('SUBSCRIBE_CHANNEL_FAILED', { channel, error: 'not granted' });
    }
    socket.join(room(channel._id));
    topics.add(channel._id);
    answer('CHANNEL_SUBSCRIBED', { channel });
  });

  socket.on('SEND_PRESENCE_EVENT', (req, ack) => {
    const invalid = (error) => {
      const ev = { topicId: req && req.topicId, sender, category: 'media.session.invalid', loopbackMetadata: req && req.loopbackMetadata, error };
      socket.emit('PRESENCE_EVENT_RESPONSE', ev);
      if (typeof ack === 'function') ack(ev);
    };
    if (!req || typeof req.category !== 'string' || !topics.has(req.topicId)) return invalid('not subscribed');
    if (req.category === 'party.removed' && claims.role !== 'admin') return invalid('only an admin may remove a party');
    nsp.to(room(req.topicId)).emit('PRESENCE_EVENT_RESPONSE', {
      _id: crypto.randomUUID(), category: req.category, topicId: req.topicId, sender, content: req.content || {},
    });
    if (typeof ack === 'function') ack({ ok: true });
  });
});

server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
}

main().catch((e) => { log('start', e.stack); process.exit(1); });
process.stdin.on('end', () => process.exit(0)).resume();
