// The operator console (contract §9). Plain browser JavaScript, no build step.
//
// Where things are:
//   api()              every HTTP request: GET /api/topics, the §6/§7 actions, the dev simulator
//   signIn()           the token (sessionStorage, this tab only) and the granted topics
//   connect()          the §3 socket: subscriptions, PRESENCE_EVENT_RESPONSE, LOBBY_EVENT
//   renderTopic()      one <section> per topic; phoneOnline/phoneLeaves, webOnline, lobby*
//   the controls       buttons wired to the §6/§7 endpoints; a refusal goes to the topic's alert
//
// Every string that comes from the network goes into the page with textContent, never as HTML.
'use strict';
(() => {
  const TOKEN_KEY = 'dialin.console.token';
  // callSid → when a console in this browser first saw it connected (events carry no time):
  // shared by the browser's tabs and kept across reloads, forgotten when the call leaves.
  const JOINED_KEY = 'dialin.console.joined';
  const JOINED_MAX_MS = 24 * 3600 * 1000;
  const SHOW_LEFT_MS = 6000; // how long a departed party's reason stays

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    admin: false,
    sim: false, // development mode with the call simulator
    socket: null,
    topics: new Map(), // topicId → topic view
  };

  // el builds an element; text, when given, goes in as text.
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const oneLine = (s) => String(s).split('\n')[0].slice(0, 300);

  // ---- HTTP ---------------------------------------------------------------------------

  // api sends one request with the token and returns the JSON answer; a refusal throws an
  // Error whose message is the answer's one-line {"error"}.
  async function api(method, path, body) {
    const headers = {};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(path, { method, headers, cache: 'no-store', credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new Error('the bridge did not answer');
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const msg = data && typeof data.error === 'string' ? data.error : (text.trim() || resp.statusText || ('status ' + resp.status));
      const err = new Error(oneLine(msg));
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  const topicPath = (t, rest) => '/api/topics/' + encodeURIComponent(t.id) + rest;

  // ---- sign in --------------------------------------------------------------------------

  // claimsOf reads a JWT's payload (the bridge checks the token; this only chooses what to
  // show).
  function claimsOf(token) {
    try {
      const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes)) || {};
    } catch (e) {
      return {};
    }
  }

  function showAlert(text) { $('alert').textContent = text; }

  function showSignIn() {
    $('signin').hidden = false;
    $('signout').hidden = true;
    $('role').hidden = true;
    setStatus('Signed out');
  }

  async function signIn(token, typed) {
    state.token = token;
    let topics;
    try {
      topics = await api('GET', '/api/topics');
    } catch (e) {
      state.token = '';
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn();
      if (typed || token) {
        showAlert('Sign-in refused: ' + e.message);
        if (typed) $('token').focus();
      }
      return;
    }
    showAlert('');
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    const claims = token ? claimsOf(token) : { role: 'admin', name: 'Developer' };
    state.admin = claims.role === 'admin';
    $('signin').hidden = true;
    $('token').value = '';
    $('signout').hidden = !token;
    const role = $('role');
    role.hidden = false;
    role.textContent = state.admin
      ? 'You are an admin: you can act on calls.'
      : 'You are a ' + (claims.role === 'member' ? 'member' : 'guest') + ': you can watch, not act.';
    renderTopics(Array.isArray(topics) ? topics : []);
    connect();
    if (typed) {
      const first = document.querySelector('#topics h2');
      if (first) first.focus();
    }
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    if (state.socket) state.socket.close();
    state.socket = null;
    state.topics.clear();
    $('topics').replaceChildren();
    showAlert('');
    showSignIn();
    $('token').focus();
  }

  // ---- topics ---------------------------------------------------------------------------

  function renderTopics(list) {
    state.topics.clear();
    const root = $('topics');
    root.replaceChildren();
    if (list.length === 0) {
      root.appendChild(el('p', { class: 'note' }, 'The token grants no topic of the rooms file.'));
    }
    list.forEach((t, i) => {
      const view = renderTopic(t, i);
      state.topics.set(view.id, view);
      root.appendChild(view.sec);
    });
  }

  // renderTopic builds one topic's region: heading, alert, tools, phone, web, lobby, dial-out.
  function renderTopic(t, i) {
    const id = String(t.topicId);
    const view = { id, name: t.name || id, phone: new Map(), web: new Map(), lobby: new Map() };
    const hid = 'topic-' + i;
    const sec = el('section', { class: 'topic card', 'aria-labelledby': hid, 'data-topic': id });
    const head = el('div', { class: 'topic-head' });
    head.appendChild(el('h2', { id: hid, tabindex: '-1' }, view.name));
    if (t.name) head.appendChild(el('span', { class: 'muted' }, id));
    sec.appendChild(head);
    view.alert = sec.appendChild(el('p', { class: 'error', role: 'alert' }));

    const tools = el('div', { class: 'tools' });
    if (state.admin) {
      const all = tools.appendChild(el('button', { type: 'button' }, 'Mute all'));
      all.addEventListener('click', () => muteAll(view));
    }
    if (state.sim) {
      const sim = tools.appendChild(el('button', { type: 'button', class: 'sim' }, 'Simulate a call'));
      sim.addEventListener('click', () => act(view, 'Simulate a call', 'POST', '/api/dev/topics/' + encodeURIComponent(id) + '/calls', {}));
    }
    if (tools.childElementCount) sec.appendChild(tools);

    const block = (title, empty) => {
      const h3 = sec.appendChild(el('h3', {}, title));
      const ul = sec.appendChild(el('ul', { class: 'parties', role: 'list', 'aria-label': title }));
      const none = sec.appendChild(el('p', { class: 'muted empty' }, empty));
      return { h3, ul, none };
    };
    view.phoneList = block('On the phone', 'Nobody on the phone.');
    view.webList = block('Online on the web', 'Nobody online on the web.');
    if (state.admin) view.lobbyList = block('Lobby', '');
    view.left = sec.appendChild(el('ul', { class: 'left', role: 'list', 'aria-label': 'Just left', 'aria-live': 'polite' }));
    if (state.admin) sec.appendChild(dialOutForm(view, i));
    view.sec = sec;
    refreshEmpty(view);
    return view;
  }

  function refreshEmpty(view) {
    for (const b of [view.phoneList, view.webList]) {
      b.none.hidden = b.ul.childElementCount > 0;
    }
    if (view.lobbyList) {
      // Most topics have no lobby: its heading shows only while someone waits.
      const b = view.lobbyList;
      b.h3.hidden = b.ul.hidden = b.ul.childElementCount === 0;
      b.none.hidden = true;
    }
  }

  function dialOutForm(view, i) {
    const form = el('form', { class: 'dialout' });
    form.appendChild(el('h3', {}, 'Call a phone'));
    const row = form.appendChild(el('div', { class: 'fields' }));
    const field = (label, attrs) => {
      const wrap = row.appendChild(el('div', { class: 'field' }));
      const fid = 'topic-' + i + '-' + attrs.name;
      wrap.appendChild(el('label', { for: fid }, label));
      return wrap.appendChild(el('input', Object.assign({ id: fid }, attrs)));
    };
    const to = field('Phone number', { name: 'to', type: 'tel', autocomplete: 'off', required: '', placeholder: '+14155550123' });
    const name = field('Name', { name: 'displayname', type: 'text', autocomplete: 'off', maxlength: '64' });
    row.appendChild(el('button', { type: 'submit' }, 'Call'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { to: to.value.trim() };
      if (name.value.trim()) body.displayname = name.value.trim();
      const ok = await act(view, 'Call', 'POST', topicPath(view, '/parties'), body);
      if (ok) {
        // The number is not kept on the page: the party shows as the bridge names it.
        to.value = '';
        name.value = '';
      }
    });
    return form;
  }

  // act runs one action; a refusal shows its one-line error in the topic's alert.
  async function act(view, label, method, path, body) {
    view.alert.textContent = '';
    try {
      return (await api(method, path, body)) || {};
    } catch (e) {
      view.alert.textContent = label + ': ' + e.message;
      return null;
    }
  }

  async function muteAll(view) {
    const res = await act(view, 'Mute all', 'POST', topicPath(view, '/mute'), { muted: true });
    if (res && Array.isArray(res.failed) && res.failed.length > 0) {
      const f = res.failed[0];
      view.alert.textContent = 'Mute all: ' + res.failed.length + ' not muted: ' + oneLine(f && f.error || '');
    }
  }

  // ---- phone parties ----------------------------------------------------------------------

  function joinedTimes() {
    try { return JSON.parse(localStorage.getItem(JOINED_KEY)) || {}; } catch (e) { return {}; }
  }

  function saveJoined(all) {
    try { localStorage.setItem(JOINED_KEY, JSON.stringify(all)); } catch (e) { /* storage off: this tab only */ }
  }

  function joinedAt(sid) {
    const all = joinedTimes();
    const now = Date.now();
    if (!(all[sid] > now - JOINED_MAX_MS && all[sid] <= now)) {
      for (const [k, t] of Object.entries(all)) if (!(t > now - JOINED_MAX_MS)) delete all[k];
      all[sid] = now;
      saveJoined(all);
    }
    return all[sid];
  }

  function forgetJoined(sid) {
    const all = joinedTimes();
    delete all[sid];
    saveJoined(all);
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const two = (n) => String(n).padStart(2, '0');
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + ':' + two(m) : String(m)) + ':' + two(s % 60);
  }

  function phoneParty(view, sid) {
    let p = view.phone.get(sid);
    if (p) return p;
    const li = el('li', { class: 'party', 'data-call': sid });
    const who = li.appendChild(el('div', { class: 'who' }));
    p = { sid, li, since: 0 };
    p.name = who.appendChild(el('span', { class: 'name' }));
    p.state = who.appendChild(el('span', { class: 'state' }));
    p.dur = who.appendChild(el('span', { class: 'duration' }));
    const controls = el('div', { class: 'controls' });
    const button = (label, cls, onClick) => {
      const b = controls.appendChild(el('button', { type: 'button', class: cls || '' }, label));
      b.addEventListener('click', onClick);
      return b;
    };
    if (state.admin) {
      p.mute = button('Mute', '', () => act(view, p.muted ? 'Unmute' : 'Mute', 'PATCH',
        topicPath(view, '/parties/' + encodeURIComponent(sid)), { muted: !p.muted }));
      p.hold = button('Hold', '', () => act(view, p.onHold ? 'Unhold' : 'Hold', 'PATCH',
        topicPath(view, '/parties/' + encodeURIComponent(sid)), { hold: !p.onHold }));
      button('Remove', 'danger', () => act(view, 'Remove', 'DELETE', topicPath(view, '/parties/' + encodeURIComponent(sid))));
    }
    if (state.sim) {
      button('Hang up', 'sim', () => act(view, 'Hang up', 'POST', '/api/dev/calls/' + encodeURIComponent(sid) + '/hangup', {}));
    }
    if (controls.childElementCount) li.appendChild(controls);
    view.phone.set(sid, p);
    view.phoneList.ul.appendChild(li);
    refreshEmpty(view);
    return p;
  }

  function phoneOnline(view, ev) {
    const sid = String(ev.sender._id);
    const ms = (ev.content && ev.content.mediaSession) || {};
    const p = phoneParty(view, sid);
    p.connected = ms.connected === true;
    p.muted = ms.selfMuted === true;
    p.onHold = p.connected && ms.audio === false;
    p.speaking = ms.speaking === true;
    p.name.textContent = String(ev.sender.displayname || 'Phone caller');
    const words = [p.connected ? 'connected' : 'ringing'];
    if (p.muted) words.push('muted');
    if (p.onHold) words.push('on hold');
    if (p.speaking) words.push('speaking');
    p.state.textContent = words.join(', ');
    p.li.dataset.state = words.join(' ');
    p.li.classList.toggle('speaking', p.speaking);
    if (p.connected && !p.since) p.since = joinedAt(sid);
    tick(p);
    if (p.mute) {
      p.mute.textContent = p.muted ? 'Unmute' : 'Mute';
      p.hold.textContent = p.onHold ? 'Unhold' : 'Hold';
      // A ringing call cannot be muted or held yet (409): only Remove is offered.
      p.mute.hidden = p.hold.hidden = !p.connected;
    }
  }

  const REASONS = {
    hung_up: 'hung up', removed: 'removed', conference_ended: 'the conference ended',
    no_answer: 'no answer', busy: 'busy', failed: 'the call failed', canceled: 'canceled',
    lost: 'the call was lost',
  };

  function phoneLeaves(view, ev) {
    const sid = String(ev.sender._id);
    const p = view.phone.get(sid);
    const name = String(ev.sender.displayname || (p && p.name.textContent) || 'Phone caller');
    const reason = ev.content && REASONS[ev.content.reason];
    removeItem(view, view.phone, sid);
    forgetJoined(sid);
    if (p) showLeft(view, name + ' left' + (reason ? ': ' + reason : ''));
  }

  // removeItem takes an item and its controls off the page at once; focus inside it moves to
  // the topic's heading rather than being lost.
  function removeItem(view, map, key) {
    const item = map.get(key);
    if (!item) return;
    map.delete(key);
    const hadFocus = item.li.contains(document.activeElement);
    item.li.remove();
    refreshEmpty(view);
    if (hadFocus) view.sec.querySelector('h2').focus();
  }

  function showLeft(view, text) {
    const li = view.left.appendChild(el('li', {}, text));
    setTimeout(() => li.remove(), SHOW_LEFT_MS);
  }

  function tick(p) {
    p.dur.textContent = p.connected && p.since ? duration(Date.now() - p.since) : '';
  }

  setInterval(() => {
    for (const view of state.topics.values()) {
      for (const p of view.phone.values()) tick(p);
    }
  }, 1000);

  // ---- web parties ------------------------------------------------------------------------

  function webOnline(view, ev) {
    const id = String(ev.sender._id);
    let w = view.web.get(id);
    if (!w) {
      w = { li: el('li', { class: 'party web' }) };
      w.name = w.li.appendChild(el('span', { class: 'name' }));
      w.li.appendChild(el('span', { class: 'state' }, 'online'));
      view.web.set(id, w);
      view.webList.ul.appendChild(w.li);
      refreshEmpty(view);
    }
    w.name.textContent = String(ev.sender.displayname || ev.sender.username || id);
  }

  // ---- lobby ------------------------------------------------------------------------------

  function lobbyWaiting(view, c) {
    if (!view.lobbyList) return;
    const sid = String(c.callSid);
    let w = view.lobby.get(sid);
    if (!w) {
      w = { li: el('li', { class: 'party waiting', 'data-call': sid }) };
      const who = w.li.appendChild(el('div', { class: 'who' }));
      w.name = who.appendChild(el('span', { class: 'name' }));
      w.since = who.appendChild(el('span', { class: 'state' }));
      const controls = w.li.appendChild(el('div', { class: 'controls' }));
      for (const [label, admit, cls] of [['Admit', true, ''], ['Deny', false, 'danger']]) {
        const b = controls.appendChild(el('button', { type: 'button', class: cls }, label));
        b.addEventListener('click', () => act(view, label, 'POST',
          topicPath(view, '/lobby/' + encodeURIComponent(sid)), { admit }));
      }
      view.lobby.set(sid, w);
      view.lobbyList.ul.appendChild(w.li);
      refreshEmpty(view);
    }
    w.name.textContent = String(c.displayname || 'Phone caller');
    const since = new Date(c.since);
    w.since.textContent = isNaN(since) ? 'waiting' : 'waiting since ' + since.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  const LOBBY_DONE = { admitted: 'was let in', denied: 'was turned away', left: 'hung up while waiting' };

  function onLobby(ev) {
    const view = ev && state.topics.get(String(ev.topicId));
    if (!view || !view.lobbyList) return;
    if (ev.state === 'waiting') {
      lobbyWaiting(view, ev);
      return;
    }
    const sid = String(ev.callSid);
    if (view.lobby.has(sid)) {
      removeItem(view, view.lobby, sid);
      showLeft(view, String(ev.displayname || 'Phone caller') + ' ' + (LOBBY_DONE[ev.state] || 'left the lobby'));
    }
  }

  async function loadLobby(view) {
    if (!view.lobbyList) return;
    try {
      const waiting = await api('GET', topicPath(view, '/lobby'));
      for (const c of Array.isArray(waiting) ? waiting : []) lobbyWaiting(view, c);
    } catch (e) {
      view.alert.textContent = 'Lobby: ' + e.message;
    }
  }

  // ---- the socket ---------------------------------------------------------------------------

  function setStatus(text) { $('status').textContent = text; }

  function onPresence(ev) {
    const view = ev && state.topics.get(String(ev.topicId));
    if (!view || !ev.sender) return;
    const online = ev.category === 'app.event.presence.party.online';
    const leaves = ev.category === 'app.event.presence.party.leaves';
    if (ev.category === 'media.session.invalid') {
      view.alert.textContent = 'Refused: ' + oneLine((ev.content && (ev.content.error || ev.content.reason)) || 'invalid request');
      return;
    }
    if (ev.sender.type === 'phone') {
      if (online) phoneOnline(view, ev);
      else if (leaves) phoneLeaves(view, ev);
    } else if (online) {
      webOnline(view, ev);
    } else if (leaves) {
      removeItem(view, view.web, String(ev.sender._id));
    }
  }

  function connect() {
    if (state.socket) state.socket.close();
    const opts = { reconnectionDelayMax: 5000 };
    if (state.token) opts.query = { token: state.token, tokenType: 'jwt' };
    const socket = io('/chat', opts);
    state.socket = socket;
    setStatus('Connecting…');
    socket.on('connect', () => {
      setStatus('Live');
      for (const view of state.topics.values()) {
        // What happened while disconnected is asked for again: start from nothing.
        for (const map of [view.phone, view.web, view.lobby]) {
          for (const item of map.values()) item.li.remove();
          map.clear();
        }
        refreshEmpty(view);
        socket.emit('SUBSCRIBE_CHANNEL', { channel: { _id: view.id, type: 'topic' } });
      }
    });
    socket.on('CHANNEL_SUBSCRIBED', (m) => {
      const view = m && m.channel && state.topics.get(String(m.channel._id));
      if (!view) return;
      socket.emit('SEND_PRESENCE_EVENT', { category: 'app.event.presence.request.parties', topicId: view.id, content: {} });
      loadLobby(view);
    });
    socket.on('SUBSCRIBE_CHANNEL_FAILED', (m) => {
      const view = m && m.channel && state.topics.get(String(m.channel._id));
      if (view) view.alert.textContent = 'Not subscribed: ' + oneLine(m.error || 'refused');
    });
    socket.on('PRESENCE_EVENT_RESPONSE', onPresence);
    socket.on('LOBBY_EVENT', onLobby);
    socket.on('disconnect', () => setStatus('Disconnected: reconnecting…'));
    socket.on('connect_error', () => setStatus('Cannot reach the bridge: retrying…'));
    socket.on('error', (e) => {
      // The bridge refused the socket: an invalid or expired token.
      const msg = oneLine(typeof e === 'string' ? e : (e && e.message) || 'refused');
      signOut();
      showAlert('The bridge refused the connection: ' + msg);
    });
  }

  // ---- start --------------------------------------------------------------------------------

  async function start() {
    $('signin').addEventListener('submit', (e) => {
      e.preventDefault();
      signIn($('token').value.trim(), true);
    });
    $('signout').addEventListener('click', signOut);
    try {
      const dev = await api('GET', '/api/dev');
      state.sim = !!(dev && dev.simulator);
      $('dev').hidden = false;
    } catch (e) {
      state.sim = false; // not development mode
    }
    await signIn(state.token, false);
  }

  if (typeof io !== 'function') {
    showAlert('The socket.io client did not load.');
    return;
  }
  start();
})();
