// app.js - gostream's dashboard and control panel (both pages; body[data-page] says which).
// Everything comes from the daemon: no CDN, no framework. The API token (when the daemon
// has one) lives in this tab's sessionStorage and goes out in the Authorization header of
// each request, with X-Gostream-Page (the daemon refuses POSTs without it: CSRF).
'use strict';

const page = document.body.dataset.page;
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('gs_token') || '';

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

class AuthError extends Error {}

async function api(path, opts = {}) {
  const headers = Object.assign({ 'X-Gostream-Page': '1' }, opts.headers || {});
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, Object.assign({}, opts, { headers, cache: 'no-store' }));
  if (r.status === 401) { showLogin(token ? 'Wrong token.' : ''); throw new AuthError('401'); }
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text }; }
  if (!r.ok) {
    const err = new Error((body && body.error) || ('HTTP ' + r.status));
    err.status = r.status; err.body = body;
    throw err;
  }
  return body;
}

const post = (path, obj) => api(path, { method: 'POST', body: JSON.stringify(obj),
  headers: { 'Content-Type': 'application/json' } });

function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
}
const fmtRate = (n) => fmtBytes(n) + '/s';
function fmtDur(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

// ---- login ----

let started = false;
function showLogin(msg) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-msg').textContent = msg || '';
  $('login-token').focus();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  token = $('login-token').value;
  sessionStorage.setItem('gs_token', token);
  try {
    await api('/web/config');
    $('login').hidden = true;
    start();
  } catch (e) {
    if (!(e instanceof AuthError)) $('login-msg').textContent = e.message;
  }
});

async function boot() {
  let s = { auth: false };
  try {
    const r = await fetch('/web/session', { cache: 'no-store' });
    s = await r.json();
  } catch (e) { /* the daemon is down: the first request below says so */ }
  $('ver').textContent = s.version ? 'v' + s.version : '';
  if (s.auth && !token) { showLogin(''); return; }
  start();
}

function start() {
  if (started) { $('app').hidden = false; return; }
  started = true;
  $('app').hidden = false;
  if (page === 'dashboard') dashboard(); else control();
}

// ---- dashboard ----

function card(title, state, rows) {
  const dl = el('dl');
  for (const [k, v] of rows) dl.append(el('dt', { text: k }), el('dd', { text: String(v) }));
  return el('div', { class: 'card', 'data-card': title },
    el('h3', {}, el('span', { text: title }), el('span', { class: 'dot ' + state, title: state })), dl);
}

const ago = (t) => !t ? 'never' : fmtDur(Math.max(0, Date.now() / 1000 - t)) + ' ago';
const NA = [['state', 'not available in this build']];

// NAT-PMP, the blocklist and discovery are optional parts of gostream: each card reads
// what /metrics reports for it (natpmp_*, blocklist_*, the discovery object) and says
// "not available in this build" when /metrics has nothing of it.
function natpmpCard(m) {
  if (!m || !('natpmp_state' in m)) return card('NAT-PMP', '', NA);
  const st = { mapped: 'ok', starting: 'warn', error: 'bad' }[m.natpmp_state] || '';
  const rows = [['state', m.natpmp_state]];
  if (m.natpmp_state !== 'off')
    rows.push(['TCP port', m.natpmp_port || '–'], ['UDP port', m.natpmp_port_udp || '–'],
      ['refreshed', ago(m.natpmp_last_refresh)], ['errors', m.natpmp_errors]);
  if (m.natpmp_last_error) rows.push(['last error', m.natpmp_last_error]);
  return card('NAT-PMP', st, rows);
}

function blocklistCard(m) {
  if (!m || !('blocklist_enabled' in m)) return card('Blocklist', '', NA);
  if (!m.blocklist_enabled) return card('Blocklist', '', [['state', 'not configured']]);
  const rows = [['ranges', m.blocklist_ranges], ['refreshed', ago(m.blocklist_last_refresh)],
    ['refused peers', m.blocklist_refused_connections], ['failures', m.blocklist_failures]];
  if (m.blocklist_last_error) rows.push(['last error', m.blocklist_last_error]);
  return card('Blocklist', m.blocklist_ranges > 0 ? (m.blocklist_last_error ? 'warn' : 'ok') : 'bad', rows);
}

function syncCard(m, ready) {
  const d = m && m.discovery;
  if (!d || typeof d !== 'object') return card('Sync', '', NA);
  if (!ready) return card('Sync', '', [['state', 'not running']]);
  if (!ready.movies && !ready.watchlist) return card('Sync', '', [['state', 'not configured (no TMDB key, no Plex token)']]);
  return card('Sync', d.errors ? 'warn' : 'ok', [['state', d.running ? 'running' : 'idle'],
    ['runs', d.runs], ['added', d.added], ['upgraded', d.upgraded], ['pending', d.pending],
    ['errors', d.errors]]);
}

// The sync controls, the progress of the current (or last) run and its live log. POST
// /sync {"action":"status"} says whether discovery runs in this daemon (503 when it has no
// TMDB key or was built without it); GET /sync/events streams the runs. A browser
// EventSource cannot send the Authorization header, so the events are read with fetch()
// and a stream reader, which can (and sends X-Gostream-Page like every other request).
let syncShown = false;
const SYNC_KINDS = ['movies', 'tv', 'watchlist'];
const syncLogLine = (e) => `${new Date((e.t || Date.now() / 1000) * 1000).toLocaleTimeString()} ` +
  `#${e.run} ${e.level === 'info' ? '' : e.level.toUpperCase() + ' '}${e.msg}`;

function syncProgress(run) {
  const p = $('sync-progress');
  if (!p) return;
  if (!run) { p.replaceChildren(el('span', { class: 'muted', text: 'No sync has run since start.' })); return; }
  const g = run.progress || {};
  const st = run.state === 'running' ? 'warn' : run.error || g.errors ? 'bad' : 'ok';
  p.dataset.run = String(run.id); p.dataset.state = run.state;
  p.replaceChildren(el('span', { class: 'dot ' + st }),
    el('b', { text: ` #${run.id} ${run.kind}${run.dry_run ? ' (dry run)' : ''}: ${run.state}` }),
    ...[['looked at', g.looked_at], ['added', g.added], ['upgraded', g.upgraded], ['skipped', g.skipped],
      ['errors', g.errors]].map(([k, v]) => el('span', { class: 'stat', 'data-stat': k.replace(' ', '_'),
      text: `${k} ${v || 0}` })),
    ...(run.error ? [el('span', { class: 'err', text: run.error })] : []));
}

function syncAppend(log, lines) {
  if (!lines.length) return;
  log.textContent += lines.join('\n') + '\n';
  const all = log.textContent.split('\n');
  if (all.length > 300) log.textContent = all.slice(-300).join('\n');
  log.scrollTop = log.scrollHeight;
}

async function syncControls(m, ready) {
  if (syncShown || !m || typeof m.discovery !== 'object') return;
  syncShown = true;
  const log = el('pre', { id: 'sync-log', class: 'log' });
  const msg = el('p', { class: 'msg', id: 'sync-msg', role: 'status' });
  const buttons = SYNC_KINDS.map((k) => el('button', { type: 'button', 'data-sync': k, text: 'Sync ' + k }));
  const dry = el('input', { type: 'checkbox', id: 'sync-dry' });
  $('sync').replaceChildren(el('h2', { text: 'Sync' }), el('div', { class: 'row' }, ...buttons,
    el('label', { class: 'check' }, dry, ' dry run')), el('div', { id: 'sync-progress', class: 'progress' }),
    msg, log);
  $('sync').hidden = false;
  if (!ready) { msg.textContent = 'Discovery is not running in this daemon.'; return; }
  const needs = { movies: 'tmdb_api_key', tv: 'tmdb_api_key', watchlist: 'plex.token' };
  buttons.forEach((b, i) => {
    if (ready[SYNC_KINDS[i]]) return;
    b.disabled = true; b.title = `needs ${needs[SYNC_KINDS[i]]} (Control panel, then restart)`;
  });
  const off = SYNC_KINDS.filter((k) => !ready[k]);
  if (off.length) msg.textContent = `Not configured: ${off.map((k) => `${k} sync (needs ${needs[k]})`).join(', ')}.`;
  let st;
  try { st = await post('/sync', { action: 'status' }); } catch (e) {
    if (e instanceof AuthError) { syncShown = false; return; }
    msg.textContent = e.message; msg.className = 'msg err';
    return;
  }
  const run = st.current || st.last;
  syncProgress(run);
  if (run && !st.current) syncAppend(log, (run.log || []).map((e) => syncLogLine(Object.assign({ run: run.id }, e))));
  buttons.forEach((b, i) => b.addEventListener('click', async () => {
    const kind = SYNC_KINDS[i];
    try {
      const r = await post('/sync', { action: 'start', kind, dry_run: dry.checked });
      msg.textContent = `Sync ${kind} started (run #${r.run}).`; msg.className = 'msg ok';
    } catch (e) { if (!(e instanceof AuthError)) { msg.textContent = e.message; msg.className = 'msg err'; } }
  }));
  followSyncLog(log);
}

async function followSyncLog(log) {
  for (let tries = 0; ; tries++) {
    const headers = { 'X-Gostream-Page': '1' };
    if (token) headers.Authorization = 'Bearer ' + token;
    try {
      const r = await fetch('/sync/events', { headers, cache: 'no-store' });
      if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
      $('sync').dataset.live = '1'; tries = 0;
      const rd = r.body.getReader(), dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        const lines = [];
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i); buf = buf.slice(i + 2);
          const kind = (ev.match(/^event: (.*)$/m) || [])[1];
          const data = (ev.match(/^data: (.*)$/m) || [])[1];
          if (!kind || data === undefined) continue;
          let j;
          try { j = JSON.parse(data); } catch (e) { continue; }
          if (kind === 'log') lines.push(syncLogLine(j));
          else {
            syncProgress(j);
            if (kind === 'done') {
              loadLibrary().catch(() => {});
            }
          }
        }
        syncAppend(log, lines);
      }
    } catch (e) { /* the daemon restarted or went away: try again shortly */ }
    $('sync').dataset.live = '';
    await new Promise((res) => setTimeout(res, Math.min(30000, 2000 * (tries + 1))));
  }
}

function renderCards(s, m) {
  const c = $('cards');
  const sys = s.system || {}, me = s.process || {}, e = s.engine || {}, h = s.http || {};
  const f = s.fuse || {}, vpn = s.vpn || {}, plex = s.plex || {}, sh = s.shield || {};
  const list = [
    card('Engine', e.up ? 'ok' : 'bad', [['torrents', e.torrents], ['awake', e.awake],
      ['piece store', fmtBytes(e.cache_bytes) + ' / ' + fmtBytes(e.cache_cap)],
      ['uptime', fmtDur(s.uptime)]]),
    card('HTTP / WebDAV', h.up ? 'ok' : 'bad', [['port', h.address + ':' + h.port],
      ['requests', h.requests], ['open bodies', h.open_bodies], ['sent', fmtBytes(h.body_bytes)],
      ['users', h.auth ? 'http_auth' : 'open']]),
    card('FUSE mount', !f.path ? '' : f.mounted ? 'ok' : 'bad', f.path ?
      [['path', f.path], ['mounted', f.mounted ? 'yes' : 'no'], ['files', f.files]] :
      [['state', 'not configured'], ['library files', f.files]]),
    natpmpCard(m),
    card('VPN', vpn.state === 'up' || vpn.state === 'unknown' ? 'ok' : vpn.interface ? 'warn' : '',
      vpn.interface ? [['interface', vpn.interface], ['state', vpn.state], ['address', vpn.address || '–']] :
        [['state', 'not configured']]),
    blocklistCard(m),
    card('Plex', !plex.configured ? '' : /^reachable/.test(plex.state) ? 'ok' : 'bad',
      plex.configured ? [['state', plex.state]] : [['state', 'not configured']]),
    card('Shield', sh.strict_entries ? 'warn' : 'ok', [
      ['mode', sh.responsive_mode ? 'responsive' : 'verified only'],
      ['hash failures', sh.hash_failures], ['strict entries', sh.strict_entries]]),
    card('Machine', sys.cpu_percent > 90 ? 'warn' : 'ok', [
      ['CPU', (sys.cpu_percent || 0).toFixed(0) + ' % of ' + sys.cores],
      ['RAM free', fmtBytes(sys.mem_available) + ' / ' + fmtBytes(sys.mem_total)],
      ['disk free', fmtBytes(sys.disk_free) + ' / ' + fmtBytes(sys.disk_total)]]),
    card('gostream', 'ok', [['CPU', (me.cpu_percent || 0).toFixed(1) + ' %'],
      ['RSS', fmtBytes(me.rss)], ['version', s.version]]),
    syncCard(m, s.sync),
  ];
  c.replaceChildren(...list);
}

const NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function renderSpeed(s) {
  // One SVG unit per CSS pixel, so text and lines keep their shape at any width.
  const g = $('speed'), W = Math.max(200, Math.round(g.clientWidth || 600)), H = 170;
  const top = 12, bottom = 150;
  g.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const now = s.now, span = 900;
  const pts = (s.speed || []).filter((p) => p[0] >= now - span);
  let max = 1024;
  for (const p of pts) max = Math.max(max, p[1], p[2]);
  max *= 1.15;
  const x = (t) => ((t - (now - span)) / span * W).toFixed(1);
  const y = (v) => (bottom - v / max * (bottom - top)).toFixed(1);
  const kids = [];
  for (let i = 0; i <= 3; i++) {
    const yy = top + i * (bottom - top) / 3;
    kids.push(svg('line', { class: 'grid', x1: 0, x2: W, y1: yy, y2: yy }));
  }
  const lbl = svg('text', { x: 4, y: top + 10 }); lbl.textContent = fmtRate(max); kids.push(lbl);
  for (const [i, t] of [[0, '-15 min'], [300, '-10 min'], [600, '-5 min']]) {
    const tl = svg('text', { x: i / span * W + 4, y: H - 4 }); tl.textContent = t; kids.push(tl);
  }
  if (pts.length) {
    const line = pts.map((p) => x(p[0]) + ',' + y(p[1])).join(' ');
    kids.push(svg('polygon', { class: 'down', points: `${x(pts[0][0])},${bottom} ${line} ${x(pts[pts.length - 1][0])},${bottom}` }));
    kids.push(svg('polyline', { class: 'up', points: pts.map((p) => x(p[0]) + ',' + y(p[2])).join(' ') }));
  }
  g.replaceChildren(...kids);
  // Read by the browser test: how many samples the chart holds and the largest.
  g.dataset.points = pts.length;
  g.dataset.max = pts.reduce((a, p) => Math.max(a, p[1]), 0);
  const last = pts[pts.length - 1];
  $('speed-now').textContent = last ? `now ${fmtRate(last[1])} down, ${fmtRate(last[2])} up` : '';
}

function badges(list) {
  return (list || []).map((b) => el('span', { class: 'badge b' + b.replace(/[^A-Za-z0-9]/g, '').replace(/^HDR10$/, 'HDR10'), text: b }));
}

function renderStreams(s) {
  const tb = $('streams').tBodies[0];
  const rows = (s.streams || []).map((x) => el('tr', { 'data-hash': x.hash },
    el('td', { class: 'hide-s' }, x.poster ? el('img', { class: 'poster', src: x.poster, alt: '' }) : null),
    el('td', {}, el('div', { text: x.title }), el('div', { class: 'muted', text: x.path }), ...badges(x.badges)),
    el('td', { text: x.source }),
    el('td', { class: 'num hide-s', text: x.peers }),
    el('td', { class: 'num', text: fmtRate(x.swarm_rate) }),
    el('td', { class: 'num', text: fmtRate(x.avg5) }),
    el('td', { class: 'num', text: x.bitrate ? fmtRate(x.bitrate) : '–' }),
    el('td', { text: x.keeps_up === undefined ? '–' : x.keeps_up ? 'yes' : 'no',
      class: x.keeps_up === false ? 'err' : '' })));
  tb.replaceChildren(...rows);
  $('streams-empty').hidden = rows.length > 0;
  $('streams').hidden = rows.length === 0;
}

let library = [];
// A record's poster (discovery stores TMDB's image URL) as an <img>; only http(s) URLs.
const posterImg = (u) => u && /^https?:\/\//.test(u) ?
  el('img', { class: 'poster hide-s', src: u, alt: '', loading: 'lazy' }) : null;
let streamPort = 0;

function verdictCell(p) {
  if (!p) return el('td', { text: '–' });
  const cls = { 'plays now': 'plays', buffers: 'buffers', stalls: 'stalls' }[p.verdict] || 'unknown';
  const tip = [p.bitrate ? 'bitrate ' + fmtRate(p.bitrate) : '', p.swarm_rate ? 'swarm ' + fmtRate(p.swarm_rate) : '',
    p.reason || ''].filter(Boolean).join(' · ');
  return el('td', {}, el('span', { class: 'verdict ' + cls, title: tip, text: p.verdict }),
    el('div', { class: 'muted hide-s', text: tip }));
}

function renderLibrary() {
  const q = $('search').value.trim().toLowerCase();
  const tb = $('library').tBodies[0];
  const rows = library.filter((t) => !q || (t.title + ' ' + t.name + ' ' + t.hash).toLowerCase().includes(q))
    .map((t) => el('tr', { 'data-hash': t.hash },
      el('td', {}, el('div', { class: 'titlecell' }, posterImg(t.poster), el('div', {},
        el('div', { text: t.title }), el('div', { class: 'muted', text: t.hash.slice(0, 12) })))),
      el('td', { class: 'num hide-s', text: fmtBytes(t.torrent_size) }),
      el('td', { class: 'hide-s', text: t.stat === 3 ? 'awake' : 'asleep' }),
      verdictCell(t.playability),
      el('td', {}, ...(t.library_files || []).map((p) => el('div', {}, el('a', {
        href: `${location.protocol}//${location.hostname}:${streamPort}/` + p.split('/').map(encodeURIComponent).join('/'),
        text: p })))),
      el('td', {}, el('button', { class: 'del', type: 'button', text: 'Remove', 'data-remove': t.hash,
        onclick: () => removeTitle(t) }))));
  tb.replaceChildren(...rows);
}

function libMsg(text, ok) { const m = $('lib-msg'); m.textContent = text; m.className = 'msg ' + (ok ? 'ok' : 'err'); }

async function loadLibrary() {
  library = await api('/web/library');
  library.sort((a, b) => b.timestamp - a.timestamp);
  renderLibrary();
}

async function removeTitle(t) {
  if (!confirm(`Remove "${t.title}" from the library?`)) return;
  try {
    await post('/torrents', { action: 'rem', hash: t.hash });
    libMsg(`Removed ${t.title}.`, true);
  } catch (e) { if (!(e instanceof AuthError)) libMsg(e.message, false); }
  await loadLibrary();
}

function dashboard() {
  $('search').addEventListener('input', renderLibrary);
  $('add').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { action: 'add', link: $('add-link').value.trim() };
    if ($('add-title').value.trim()) body.title = $('add-title').value.trim();
    libMsg('Adding… (fetching the torrent\'s metadata)', true);
    try {
      const t = await post('/torrents', body);
      libMsg(`Added ${t.title}.`, true);
      $('add-link').value = ''; $('add-title').value = '';
    } catch (e) { if (!(e instanceof AuthError)) libMsg(e.message, false); }
    await loadLibrary();
  });
  $('upload').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = $('upload-file').files[0];
    if (!f) { libMsg('Choose a .torrent file first.', false); return; }
    const fd = new FormData();
    fd.append('file', f, f.name);
    libMsg('Uploading…', true);
    try {
      const t = await api('/torrent/upload', { method: 'POST', body: fd });
      libMsg(`Added ${(t && t.title) || f.name}.`, true);
      $('upload-file').value = '';
    } catch (e) { if (!(e instanceof AuthError)) libMsg(e.message, false); }
    await loadLibrary();
  });
  let n = 0;
  const tick = async () => {
    try {
      const s = await api('/web/status');
      let m = null;
      try { m = await api('/metrics'); } catch (e) { if (e instanceof AuthError) throw e; }
      streamPort = s.http.port;
      renderCards(s, m);
      syncControls(m, s.sync);
      renderSpeed(s);
      renderStreams(s);
      if (n++ % 5 === 0) await loadLibrary();
      document.body.dataset.updated = String(n);
    } catch (e) {
      if (e instanceof AuthError) return;           // the login form is up
      $('cards').replaceChildren(card('gostream', 'bad', [['error', e.message]]));
    }
    setTimeout(tick, 2000);
  };
  tick();
}

// ---- control panel ----

let fields = [];
let advanced = false;

function input(f) {
  const id = 'f-' + f.key;
  if (f.type === 'bool')
    return el('input', { type: 'checkbox', id, name: f.key, checked: f.value === true });
  if (f.secret && f.type === 'list')
    return el('textarea', { id, name: f.key, rows: 2, autocomplete: 'off',
      placeholder: (f.set ? 'set (leave empty to keep)' : 'not set') + ': one entry per line' });
  if (f.secret)
    return el('input', { type: 'password', id, name: f.key, autocomplete: 'new-password',
      placeholder: f.set ? 'set (leave empty to keep)' : 'not set' });
  if (f.type === 'list')
    return el('textarea', { id, name: f.key, rows: 2, placeholder: 'one entry per line' });
  if (f.type === 'int' || f.type === 'number')
    return el('input', { type: 'number', id, name: f.key, min: f.min, max: f.max,
      step: f.type === 'int' ? 1 : 'any', value: f.value });
  return el('input', { type: 'text', id, name: f.key, value: f.value });
}

function renderForm(cfg) {
  const form = $('settings');
  const groups = new Map();
  for (const f of cfg.fields) {
    if (!groups.has(f.group)) groups.set(f.group, []);
    groups.get(f.group).push(f);
  }
  const sets = [];
  for (const [g, list] of groups) {
    const fs = el('fieldset', { class: list.some((f) => f.simple) ? '' : 'adv' }, el('legend', { text: g }));
    for (const f of list) {
      const tags = [f.live ? 'live' : f.at_start ? 'saved now, used after a restart' : 'after restart', f.secret ? 'write-only' : '',
        f.type === 'int' || f.type === 'number' ? `${f.min} – ${f.max}` : ''].filter(Boolean).join(' · ');
      const inp = input(f);
      if (f.type === 'list' && !f.secret) inp.value = (f.value || []).join('\n');
      // A secret is never shown; "Clear" is how to empty one (an empty box keeps it).
      const clear = f.secret && f.set ? el('button', { type: 'button', class: 'del', id: 'clear-' + f.key,
        text: 'Clear', onclick: (ev) => { inp.dataset.clear = '1'; inp.value = '';
          inp.placeholder = 'cleared when saved'; ev.target.disabled = true; } }) : null;
      fs.append(el('div', { class: 'field' + (f.simple ? '' : ' adv'), 'data-key': f.key },
        el('label', { for: 'f-' + f.key, text: f.label }),
        clear ? el('div', { class: 'row tight' }, inp, clear) : inp,
        el('div', { class: 'tags', text: f.key + ' · ' + tags }),
        el('div', { class: 'help', text: f.help + (f.not_read ? ' — ' + f.not_read : '') }),
        f.pending !== undefined ? el('div', { class: 'pending',
          text: 'config file has ' + (f.secret ? 'a new value' : JSON.stringify(f.pending)) + ': applies after a restart' }) : null,
        el('div', { class: 'ferr', id: 'err-' + f.key })));
    }
    sets.push(fs);
  }
  form.replaceChildren(...sets);
  $('cfg-file').textContent = cfg.config_file ? 'Config file: ' + cfg.config_file +
    (cfg.config_error ? ' (does not load now: ' + cfg.config_error + ')' : '') :
    'No config file: running on built-in defaults; only live settings can be changed here.';
  setView(advanced);
}

function setView(adv) {
  advanced = adv;
  $('settings').classList.toggle('hidden-adv', !adv);
  $('view-simple').classList.toggle('on', !adv);
  $('view-advanced').classList.toggle('on', adv);
}

function valueOf(f) {
  const e = $('f-' + f.key);
  if (f.type === 'bool') return e.checked;
  if (f.secret && e.dataset.clear && e.value === '') return f.type === 'list' ? [] : '';
  if (f.secret && f.type !== 'list') return e.value === '' ? undefined : e.value;
  if (f.type === 'list') {
    if (f.secret && e.value === '') return undefined;
    return e.value.split('\n').map((x) => x.trim()).filter(Boolean);
  }
  if (f.type === 'int' || f.type === 'number') {
    // Sent as typed: the daemon's check says what is wrong, in the CLI's words.
    const n = Number(e.value);
    return e.value.trim() === '' || Number.isNaN(n) ? e.value : n;
  }
  return e.value;
}

function cfgMsg(text, ok) { const m = $('cfg-msg'); m.textContent = text; m.className = 'msg ' + (ok ? 'ok' : 'err'); }

async function loadConfig() {
  const cfg = await api('/web/config');
  fields = cfg.fields;
  renderForm(cfg);
}

function control() {
  $('view-simple').addEventListener('click', () => setView(false));
  $('view-advanced').addEventListener('click', () => setView(true));
  $('settings').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const e of document.querySelectorAll('.ferr')) e.textContent = '';
    const set = {};
    for (const f of fields) {
      const v = valueOf(f);
      if (v === undefined) continue;
      if (!f.secret && JSON.stringify(v) === JSON.stringify(f.value)) continue;
      set[f.key] = v;
    }
    if (!Object.keys(set).length) { cfgMsg('Nothing changed.', true); return; }
    try {
      const r = await post('/web/config', { set });
      const parts = [];
      const later = new Set(r.at_next_start);
      const now = r.live.filter((k) => !later.has(k));
      if (now.length) parts.push('applied now: ' + now.join(', '));
      if (later.size) parts.push('saved, used after a restart: ' + [...later].join(', '));
      if (r.restart.length) parts.push('saved to the config file (backup ' + r.backup + '), applies after a restart: ' + r.restart.join(', '));
      cfgMsg('Saved. ' + parts.join('; ') + '.', true);
      await loadConfig();
    } catch (e) {
      if (e instanceof AuthError) return;
      const errs = (e.body && e.body.errors) || {};
      let shown = false;
      for (const [k, msg] of Object.entries(errs)) {
        const slot = $('err-' + k);
        if (slot) { slot.textContent = msg; shown = true; if (!advanced && slot.closest('.adv')) setView(true); }
      }
      cfgMsg(e.message + (errs._ ? ': ' + errs._ : '') + (shown ? ' (see the fields marked)' : ''), false);
    }
  });
  $('restart').addEventListener('click', async () => {
    if (!confirm('Restart gostream now? Streams in progress are cut.')) return;
    try {
      await post('/web/restart', {});
      cfgMsg('Restarting…', true);
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          const r = await fetch('/health', { cache: 'no-store' });
          const st = await api('/web/status');
          if (r.ok && st.uptime < 30) { cfgMsg('Restarted (up ' + st.uptime + ' s).', true); await loadConfig(); return; }
        } catch (e) { /* still down */ }
      }
      cfgMsg('gostream did not come back within 30 s: see its log.', false);
    } catch (e) { if (!(e instanceof AuthError)) cfgMsg(e.message, false); }
  });
  loadConfig().catch((e) => { if (!(e instanceof AuthError)) cfgMsg(e.message, false); });
}

boot();
