// One room client for the end-to-end tests: a real socket.io-client 2.x connection to the
// bridge's /chat namespace, driven over stdin and reported on stdout, one JSON object a line.
//
//   node roomclient.js [--module NAME] BASE_URL TRANSPORT [TOKEN]
//
// TRANSPORT is websocket, polling, or upgrade: polling first, then websocket, as browsers
// connect by default. NAME is the client package to load (default socket.io-client; another
// version is installed under an npm alias, such as socket.io-client-204).
//
// stdout: {"type":"client","name":"socket.io-client@VERSION"} first, then
//         {"type":"connect"} | {"type":"connect_error","error":…} | {"type":"disconnect","reason":…}
//         | {"type":"event","name":…,"data":…} for every event the server emits
//         | {"type":"transport","name":…} when asked which transport the connection is on.
// stdin:  {"emit":NAME,"data":…[,"ack":true]} | {"emit":NAME,"emitRaw":[args…]} | {"raw":PACKET}
//         | {"close":true} | {"transport":true}
// With "ack", the server's acknowledgement is reported as {"type":"ack","name":NAME,"data":…}.
//
// Options before BASE_URL: --module NAME (another socket.io-client version); --reconnect (the
// client's default reconnection, each attempt reported as {"type":"reconnect_attempt"});
// --token-in-connect (the handshake carries no token; /chat's CONNECT packet does, as when
// /chat shares a connection with another namespace).
'use strict';
const readline = require('readline');

const args = process.argv.slice(2);
const flag = (name) => { const i = args.indexOf(name); if (i < 0) return false; args.splice(i, 1); return true; };
const moduleName = args[0] === '--module' ? args.splice(0, 2)[1] : 'socket.io-client';
const reconnect = flag('--reconnect');
const tokenInConnect = flag('--token-in-connect');
const io = require(moduleName);
const [base, transport, token] = args;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
out({ type: 'client', name: 'socket.io-client@' + require(moduleName + '/package.json').version });
const transports = transport === 'upgrade' ? ['polling', 'websocket'] : [transport || 'websocket'];
const opts = { transports, reconnection: reconnect, forceNew: true, timeout: 5000 };
let socket;
if (tokenInConnect) {
  const manager = new io.Manager(base, opts);
  socket = manager.socket('/chat', { query: { token, tokenType: 'jwt' } });
} else {
  if (token) opts.query = { token, tokenType: 'jwt' };
  socket = io(base + '/chat', opts);
}
socket.io.on('reconnect_attempt', () => out({ type: 'reconnect_attempt' }));

// Report every event the server sends, whatever its name.
const onevent = socket.onevent;
socket.onevent = function (packet) {
  const [name, data] = packet.data || [];
  out({ type: 'event', name, data });
  return onevent.call(this, packet);
};
socket.on('connect', () => out({ type: 'connect' }));
socket.on('connect_error', (e) => out({ type: 'connect_error', error: String(e && e.message || e) }));
socket.on('error', (e) => out({ type: 'error', error: String(e && e.message || e) }));
socket.on('disconnect', (reason) => out({ type: 'disconnect', reason }));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.transport) { out({ type: 'transport', name: socket.io.engine && socket.io.engine.transport.name }); return; }
  if (cmd.close) { socket.close(); setTimeout(() => process.exit(0), 50); return; }
  if (cmd.emitRaw !== undefined) { socket.emit(cmd.emit, ...cmd.emitRaw); return; }
  if (cmd.raw !== undefined) { socket.io.engine.write(cmd.raw); return; } // a raw socket.io packet
  if (cmd.ack) { socket.emit(cmd.emit, cmd.data, (data) => out({ type: 'ack', name: cmd.emit, data })); return; }
  socket.emit(cmd.emit, cmd.data);
}).on('close', () => { socket.close(); process.exit(0); });
