// web_browser.js - drives Debian's /usr/bin/chromium with playwright-core (no browser
// download) through gostream's dashboard and control panel, for tests/integration/web_*.sh.
// usage: node web_browser.js panel|login|sync   (everything else comes from the environment)
// Prints "ok <what>" per check and exits 1 with "FAIL: ..." on the first failed one.
// Every wait is bounded.
'use strict';

const path = require('path');
const crypto = require('crypto');
const fs = require('fs');
const { chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core'));

const env = (k) => { const v = process.env[k]; if (v === undefined) throw new Error(`${k} not set`); return v; };
const M = env('GS_M');
const scenario = process.argv[2];
let browser;

function fail(msg) { console.error('FAIL: ' + msg); if (browser) browser.close().catch(() => {}); process.exit(1); }
function ok(msg) { console.log('ok ' + msg); }
function check(cond, msg) { if (!cond) fail(msg); ok(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    await sleep(200);
  }
  fail(`${what} (waited ${ms} ms; last: ${JSON.stringify(last)})`);
}

// A page that records console errors and uncaught exceptions.
// Every request a page makes must go to the daemon itself (no CDN: works offline).
const foreign = [];
async function open(ctx, url) {
  const page = await ctx.newPage();
  page.errors = [];
  page.on('request', (q) => {
    const u = q.url();
    const img = process.env.IMG_BASE;   // TMDB's image server (posters), when a test sets one
    if (!u.startsWith(M + '/') && !u.startsWith('data:') && !(img && u.startsWith(img + '/'))) foreign.push(u);
  });
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push('uncaught: ' + e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  return page;
}

function noErrors(page, what, allow) {
  const errs = page.errors.filter((e) => !(allow && allow.test(e)));
  check(errs.length === 0, `${what}: no console errors${errs.length ? ' (got ' + JSON.stringify(errs) + ')' : ''}`);
  page.errors = [];
}

async function shot(page, name) {
  const dir = process.env.GS_SHOTS;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
  ok(`screenshot ${name}`);
}

async function api(base, p, body, headers = {}) {
  const r = await fetch(base + p, { method: body ? 'POST' : 'GET', headers,
    body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch (e) { j = text; }
  return { status: r.status, body: j, text };
}

async function panel() {
  const A = env('GS_A');
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true,
    hasTouch: true, deviceScaleFactor: 2 });

  // -- both pages load clean --
  const dash = await open(desktop, M + '/');
  check(new URL(dash.url()).pathname === '/dashboard', '/ redirects to /dashboard');
  await until('dashboard cards', async () => (await dash.locator('#cards .card').count()) >= 10);
  // Optional parts: each card shows what /metrics has of it, or says it is not built.
  const met = (await api(M, '/metrics')).body;
  const cardText = (n) => dash.locator(`.card[data-card="${n}"]`).innerText();
  if ('natpmp_state' in met)
    check((await cardText('NAT-PMP')).includes(met.natpmp_state), `NAT-PMP card shows the state (${met.natpmp_state})`);
  else
    check(/not available in this build/.test(await cardText('NAT-PMP')), 'NAT-PMP card: not available in this build');
  if ('blocklist_enabled' in met)
    check(met.blocklist_enabled ? (await cardText('Blocklist')).includes(String(met.blocklist_ranges)) :
      /not configured/.test(await cardText('Blocklist')), 'Blocklist card follows /metrics');
  else
    check(/not available in this build/.test(await cardText('Blocklist')), 'Blocklist card: not available in this build');
  if (typeof met.discovery === 'object') {
    await until('sync controls', async () => (await dash.locator('#sync button[data-sync]').count()) === 3);
    ok('discovery in this build: the Sync card and the sync controls show');
    // No tmdb_api_key and no plex.token here: no sync can start, the page says why.
    await until('sync message', async () => /needs tmdb_api_key/.test(await dash.locator('#sync-msg').innerText()));
    check(await dash.locator('#sync button[data-sync][disabled]').count() === 3 &&
      /Not configured: movies sync \(needs tmdb_api_key\), tv sync \(needs tmdb_api_key\), watchlist sync \(needs plex\.token\)/
        .test(await dash.locator('#sync-msg').innerText()) &&
      /not configured/.test(await cardText('Sync')), 'without tmdb_api_key and plex.token the sync buttons are off and the page says why');
  } else {
    check(/not available in this build/.test(await cardText('Sync')), 'Sync card: not available in this build');
    check(!(await dash.locator('#sync').isVisible()), 'no sync controls without discovery');
  }
  noErrors(dash, 'dashboard');

  const ctl = await open(desktop, M + '/control');
  await until('control form', async () => (await ctl.locator('#settings .field').count()) > 0);
  const cfg = (await api(M, '/web/config')).body;
  check((await ctl.locator('#settings .field').count()) === cfg.fields.length,
    `the form has one field per config key (${cfg.fields.length})`);
  check(await ctl.locator('[data-key="engine.ConnectionsLimit"]').isVisible(), 'Simple view shows ConnectionsLimit');
  check(!(await ctl.locator('[data-key="engine.ReaderReadAHead"]').isVisible()), 'Simple view hides ReaderReadAHead');
  await shot(ctl, 'control-desktop.png');
  await ctl.click('#view-advanced');
  check(await ctl.locator('[data-key="engine.ReaderReadAHead"]').isVisible(), 'Advanced view shows ReaderReadAHead');
  check(await ctl.locator('#f-plex\\.token').getAttribute('type') === 'password', 'secrets are password inputs');
  check(await ctl.locator('#f-plex\\.token').inputValue() === '', 'a secret is never filled in');
  noErrors(ctl, 'control panel');

  // -- a live setting --
  await ctl.fill('#f-engine\\.ConnectionsLimit', '45');
  await ctl.click('#save');
  await until('live save message', async () => /applied now: ConnectionsLimit/.test(await ctl.locator('#cfg-msg').innerText()));
  const s1 = await api(A, '/settings', { action: 'get' });
  check(s1.body.ConnectionsLimit === 45, `POST /settings get shows ConnectionsLimit 45 (got ${s1.body.ConnectionsLimit})`);

  // -- an engine setting used at the next start: saved through /settings too --
  await ctl.uncheck('#f-engine\\.UseDisk');
  await ctl.click('#save');
  await until('at-start save message', async () => /saved, used after a restart: UseDisk/.test(await ctl.locator('#cfg-msg').innerText()));
  check((await api(A, '/settings', { action: 'get' })).body.UseDisk === false, 'POST /settings get shows UseDisk false');
  await ctl.check('#f-engine\\.UseDisk');
  await ctl.click('#save');
  await until('UseDisk back on', async () => (await api(A, '/settings', { action: 'get' })).body.UseDisk === true);
  ok('UseDisk back on before the restart (the warmup cache is needed below)');

  // -- a refused value: the CLI's message next to the field, nothing saved --
  await ctl.fill('#f-read_ahead_budget_mb', '5');
  await ctl.fill('#f-engine\\.ConnectionsLimit', '50');
  await ctl.click('#save');
  const want = env('CLI_MSG');
  await until('error next to read_ahead_budget_mb', async () =>
    (await ctl.locator('#err-read_ahead_budget_mb').innerText()) === want);
  ok(`the field shows the CLI's message: ${want}`);
  check((await api(A, '/settings', { action: 'get' })).body.ConnectionsLimit === 45,
    'a refused save changes nothing (ConnectionsLimit still 45)');

  // -- restart-only values and a secret: written to the file, applied by the restart --
  await ctl.fill('#f-read_ahead_budget_mb', '300');
  await ctl.fill('#f-engine\\.ConnectionsLimit', '45');
  await ctl.fill('#f-plex\\.token', env('PLEX_TOKEN'));
  await ctl.click('#save');
  await until('restart save message', async () => /after a restart: read_ahead_budget_mb, plex\.token/.test(await ctl.locator('#cfg-msg').innerText()));
  await until('pending note', async () => /applies after a restart/.test(await ctl.locator('[data-key="read_ahead_budget_mb"] .pending').innerText()));
  const before = (await api(M, '/metrics')).body;
  check(before.read_ahead_budget === 256 * 1048576, 'the running daemon keeps 256 MB until the restart');
  await ctl.click('#restart');
  await until('restart done', async () => /Restarted/.test(await ctl.locator('#cfg-msg').innerText()), 40000);
  const after = (await api(M, '/metrics')).body;
  check(after.read_ahead_budget === 300 * 1048576, 'after the restart button: read_ahead_budget 300 MB');
  check(after.uptime < 40, `the daemon restarted (uptime ${after.uptime} s)`);
  check((await api(A, '/settings', { action: 'get' })).body.ConnectionsLimit === 45, 'the live setting survived the restart');
  await until('plex.token shows as set', async () =>
    /set \(leave empty/.test(await ctl.locator('#f-plex\\.token').getAttribute('placeholder')));
  for (const p of ['/control', '/dashboard', '/web/app.js', '/web/config', '/web/status', '/web/session', '/metrics']) {
    const r = await api(M, p);
    check(!r.text.includes(env('PLEX_TOKEN')), `${p} does not contain the secret`);
  }
  check(!(await ctl.content()).includes(env('PLEX_TOKEN')), 'the rendered control page does not contain the secret');
  // Clearing a secret: the Clear button, then Save; the file holds "" afterwards.
  await ctl.click('#clear-plex\\.token');
  await ctl.click('#save');
  await until('secret cleared', async () => /after a restart: plex\.token/.test(await ctl.locator('#cfg-msg').innerText()));
  const cleared = (await api(M, '/web/config')).body.fields.find((f) => f.key === 'plex.token');
  check(cleared.pending === true && cleared.set === true, 'a cleared secret is pending until the restart (still set in the running daemon)');
  await ctl.close();

  // -- add a title from the page, stream it over HTTP, watch the chart --
  await dash.reload({ waitUntil: 'load' });
  dash.errors = [];         // its polls while the daemon restarted were refused
  await until('dashboard after restart', async () => (await dash.locator('#cards .card').count()) >= 10);
  const H = env('HASH');
  await dash.fill('#add-link', env('MAGNET'));
  await dash.fill('#add-title', env('TITLE'));
  await dash.click('#add button');
  await until('added message', async () => /Added/.test(await dash.locator('#lib-msg').innerText()), 40000);
  const row = dash.locator(`#library tr[data-hash="${H}"]`);
  await until('library row', async () => (await row.count()) === 1);
  check((await row.innerText()).includes(env('TITLE')), 'the library shows the added title');
  const list = (await api(A, '/torrents', { action: 'list' })).body;
  check(list.some((t) => t.hash === H && t.title === env('TITLE')), 'the API lists the title added from the page');
  const href = await row.locator('a').first().getAttribute('href');
  ok(`library link ${href}`);

  const points0 = Number(await dash.locator('#speed').getAttribute('data-points'));
  const hasher = crypto.createHash('sha256');
  let got = 0;
  const reading = (async () => {
    const r = await fetch(href);
    if (r.status !== 200) fail(`GET ${href}: HTTP ${r.status}`);
    for await (const chunk of r.body) { hasher.update(chunk); got += chunk.length; }
  })();
  await until('a stream in the table', async () => (await dash.locator(`#streams tr[data-hash="${H}"]`).count()) === 1, 20000);
  await until('the chart shows download speed', async () =>
    Number(await dash.locator('#speed').getAttribute('data-max')) > 0, 20000);
  const srow = await dash.locator(`#streams tr[data-hash="${H}"]`).innerText();
  check(/swarm|RAM|SSD warmup/.test(srow), `the stream row names its source (${srow.replace(/\s+/g, ' ')})`);
  const badgeText = await dash.locator(`#streams tr[data-hash="${H}"] .badge`).allInnerTexts();
  check(['4K', 'DV', 'HDR10+', 'Atmos'].every((b) => badgeText.includes(b)),
    `quality badges from the release name (${badgeText.join(' ')})`);
  await shot(dash, 'dashboard-desktop.png');
  const mob = await open(phone, M + '/dashboard');
  await until('phone dashboard', async () => (await mob.locator('#cards .card').count()) >= 10);
  await until('phone streams', async () => (await mob.locator('#streams tbody tr').count()) >= 1, 10000);
  const width = await mob.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `the dashboard fits a 390 px phone screen (scrollWidth ${width})`);
  await shot(mob, 'dashboard-phone.png');
  noErrors(mob, 'phone dashboard');
  const mctl = await open(phone, M + '/control');
  await until('phone control', async () => (await mctl.locator('#settings .field').count()) > 0);
  const cw = await mctl.evaluate(() => document.documentElement.scrollWidth);
  check(cw <= 390, `the control panel fits a 390 px phone screen (scrollWidth ${cw})`);
  await shot(mctl, 'control-phone.png');
  noErrors(mctl, 'phone control panel');
  await reading;
  check(hasher.digest('hex') === env('SHA256'), `the title read over HTTP from the library link is byte-exact (${got} bytes)`);
  const points1 = await until('more chart points', async () => {
    const n = Number(await dash.locator('#speed').getAttribute('data-points'));
    return n >= points0 + 3 ? n : 0;
  }, 20000);
  ok(`the speed chart went from ${points0} to ${points1} points, peak ${await dash.locator('#speed').getAttribute('data-max')} B/s`);

  // -- playability, on the page and in /torrents get --
  const pl = await until('a playability verdict', async () => {
    const r = await api(A, '/torrents', { action: 'get', hash: H });
    const p = r.body.playability;
    if (p && p.verdict === 'unknown') throw new Error(JSON.stringify(p));
    return p;
  }, 30000);
  ok(`/torrents get playability: ${JSON.stringify(pl)}`);
  const dur = Number(env('DURATION'));
  check(Math.abs(pl.duration - dur) < 0.5, `duration from the Matroska head ${pl.duration} s = ffprobe's ${dur} s`);
  const want_v = pl.swarm_rate >= 1.25 * pl.bitrate ? 'plays now' : pl.swarm_rate >= 0.75 * pl.bitrate ? 'buffers' : 'stalls';
  check(pl.verdict === want_v, `verdict "${pl.verdict}" follows swarm ${pl.swarm_rate} B/s vs bitrate ${pl.bitrate} B/s`);
  await dash.reload({ waitUntil: 'load' });
  await until('verdict in the library table', async () =>
    (await dash.locator(`#library tr[data-hash="${H}"] .verdict`).innerText()) === pl.verdict, 15000);
  ok('the library table shows the same verdict');
  await shot(dash, 'dashboard-library-desktop.png');

  // -- upload a .torrent, then remove both titles --
  const U = env('UPLOAD_HASH');
  await dash.setInputFiles('#upload-file', env('UPLOAD_TORRENT'));
  await dash.click('#upload button');
  await until('uploaded row', async () => (await dash.locator(`#library tr[data-hash="${U}"]`).count()) === 1, 20000);
  ok('an uploaded .torrent appears in the library');
  await dash.fill('#search', env('UPLOAD_TITLE_PART'));
  await until('search filters', async () => (await dash.locator('#library tbody tr').count()) === 1);
  ok('search keeps only the matching title');
  await dash.fill('#search', '');
  for (const h of [U, H]) {
    await dash.click(`button[data-remove="${h}"]`);
    await until(`row ${h} gone`, async () => (await dash.locator(`#library tr[data-hash="${h}"]`).count()) === 0, 15000);
    const g = await api(A, '/torrents', { action: 'get', hash: h });
    check(g.status === 404, `removed ${h.slice(0, 8)} from the page: the API answers 404`);
  }
  const gone = await fetch(href);
  check(gone.status === 404, `the removed title's HTTP link answers 404 (got ${gone.status})`);
  noErrors(dash, 'dashboard after add/stream/remove');
  check(foreign.length === 0, `the pages asked nothing but the daemon${foreign.length ? ' (got ' + foreign.join(' ') + ')' : ''}`);
}

async function login() {
  const TOKEN = env('TOKEN');
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await open(ctx, M + '/dashboard');
  await until('login form', async () => await page.locator('#login').isVisible());
  check(!(await page.locator('#app').isVisible()), 'the dashboard stays hidden before login');
  await shot(page, 'login-desktop.png');
  noErrors(page, 'login page');
  await page.fill('#login-token', 'wrong-' + TOKEN);
  await page.click('#login-form button');
  await until('wrong token message', async () => /Wrong token/.test(await page.locator('#login-msg').innerText()));
  ok('a wrong token is refused on the page');
  page.errors = page.errors.filter((e) => !/401/.test(e));  // the refused request itself
  await page.fill('#login-token', TOKEN);
  await page.click('#login-form button');
  await until('dashboard after login', async () => (await page.locator('#cards .card').count()) >= 10);
  ok('the right token opens the dashboard');
  await until('Plex card', async () => /reachable/.test(await page.locator('.card[data-card="Plex"]').innerText()));
  check(/reachable \(Plex 1\.40\.2\.8395-c67dce28e\)/.test(await page.locator('.card[data-card="Plex"]').innerText()),
    'the Plex card says reachable, with the server version (GET /identity with the token)');
  noErrors(page, 'dashboard after login');
  await page.click('nav a[href="/control"]');        // same tab: the token is the tab's
  await until('control after login (same tab)', async () => (await page.locator('#settings .field').count()) > 0);
  check(!(await page.locator('#login').isVisible()), 'the control panel opens with the stored token');
  noErrors(page, 'control after login');
  const other = await open(ctx, M + '/control');
  await until('a new tab asks again', async () => await other.locator('#login').isVisible());
  ok('a new tab asks for the token again (sessionStorage)');
  for (const p of ['/dashboard', '/control', '/web/app.js', '/web/session']) {
    const r = await api(M, p);
    check(r.status === 200 && !r.text.includes(TOKEN), `${p} is served without credentials and holds no token`);
  }
  for (const p of ['/web/config', '/web/status', '/metrics']) {
    const r = await api(M, p, null, { Authorization: 'Bearer ' + TOKEN });
    check(!r.text.includes(env('PLEX_TOKEN')), `${p} does not carry plex.token`);
  }
  for (const p of ['/web/config', '/web/status', '/web/library']) {
    const r = await api(M, p, null, { 'X-Gostream-Page': '1' });
    check(r.status === 401 && !r.text.includes(TOKEN), `${p} without the token: 401`);
    const r2 = await api(M, p, null, { Authorization: 'Bearer ' + TOKEN });
    check(r2.status === 200 && !r2.text.includes(TOKEN), `${p} with the token: 200, no token in it`);
  }
  const cookies = await ctx.cookies();
  check(cookies.length === 0, 'no cookie is set (the token travels in a header only)');
}

// The sync controls against real discovery (fake TMDB/Torrentio), with the API token set
// (the live log is a fetch() stream carrying the header), and the blocklist and NAT-PMP
// cards against what /metrics reports.
async function sync() {
  const TOKEN = env('TOKEN');
  const auth = { Authorization: 'Bearer ' + TOKEN };
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const dash = await open(desktop, M + '/dashboard');
  await until('login form', async () => await dash.locator('#login').isVisible());
  await dash.fill('#login-token', TOKEN);
  await dash.click('#login-form button');
  await until('dashboard after login', async () => (await dash.locator('#cards .card').count()) >= 10);
  ok('logged in');

  // -- the blocklist card: the count /metrics has --
  const bl = dash.locator('.card[data-card="Blocklist"]');
  const want = env('BL_RANGES');
  await until('blocklist card', async () => new RegExp(`ranges\\s+${want}\\b`).test(await bl.innerText()));
  const blt = await bl.innerText();
  check(/refreshed\s+\d+m \d+s ago/.test(blt) && /refused peers\s+0/.test(blt) && !/not available/.test(blt),
    `the blocklist card shows ${want} ranges, when it was refreshed and the refused peers (${JSON.stringify(blt)})`);
  check(await bl.locator('.dot.ok').count() === 1, 'the blocklist card is green');

  // -- the NAT-PMP card: the gateway refuses, the card says so --
  const np = dash.locator('.card[data-card="NAT-PMP"]');
  await until('NAT-PMP error on the card', async () => /not authorized/.test(await np.innerText()), 30000);
  const m = (await api(M, '/metrics', null, auth)).body;
  const npt = await np.innerText();
  check(new RegExp(`state\\s+${m.natpmp_state}`).test(npt) && npt.includes(m.natpmp_last_error) &&
    /TCP port\s+–/.test(npt) && await np.locator('.dot.bad').count() === 1,
    `the NAT-PMP card shows /metrics' state ${m.natpmp_state}, no port and the last error (${JSON.stringify(npt)})`);

  // -- the sync section: discovery runs, nothing ran yet --
  await until('sync controls', async () => (await dash.locator('#sync button[data-sync="movies"]').count()) === 1);
  await until('sync progress', async () => /No sync has run/.test(await dash.locator('#sync-progress').innerText()));
  await until('live log connected', async () => (await dash.locator('#sync').getAttribute('data-live')) === '1');
  check(await dash.locator('#sync button[data-sync]:not([disabled])').count() === 3,
    'three sync buttons (movies, tv, watchlist), enabled');

  // -- start a movies sync from the page --
  await dash.click('#sync button[data-sync="movies"]');
  await until('started message', async () => /Sync movies started \(run #\d+\)/.test(await dash.locator('#sync-msg').innerText()));
  ok('the page started a movies sync');
  const log = dash.locator('#sync-log');
  await until('log: started', async () => /#\d+ movies sync started \(api\)/.test(await log.innerText()));
  ok('the run\'s first log line streamed into the page');
  await until('run finished', async () => (await dash.locator('#sync-progress').getAttribute('data-state')) === 'ok', 120000);
  const lt = await log.innerText();
  check(/#\d+ Heat: add \(best of 6 streams\)/.test(lt) && /Dune: Part Two: skip \(no stream passes/.test(lt),
    'the log shows the add of Heat and the skip of Dune');
  check(/movies sync ok: looked at 3, added 2, upgraded 0, skipped 1, errors 0/.test(lt),
    'the log shows the run\'s summary');
  const pt = await dash.locator('#sync-progress').innerText();
  check(/looked at 3/.test(pt) && /added 2/.test(pt) && /skipped 1/.test(pt) && /errors 0/.test(pt),
    `the progress line: looked at 3, added 2, skipped 1, errors 0 (${JSON.stringify(pt)})`);
  for (const [h, title] of [[env('H_HEAT_4K'), 'Heat (1995)'], [env('H_MATRIX_1080'), 'The Matrix (1999)']]) {
    await until(`${title} in the library table`, async () =>
      (await dash.locator(`#library tr[data-hash="${h}"]`).innerText()).includes(title), 30000);
    ok(`${title}, added by the sync, is in the library table`);
  }
  const img = dash.locator(`#library tr[data-hash="${env('H_HEAT_4K')}"] img.poster`);
  await until('Heat poster loaded', async () => (await img.count()) === 1 &&
    await img.evaluate((i) => i.complete && i.naturalWidth === 20), 15000);
  check(await img.getAttribute('src') === env('IMG_BASE') + '/p949.jpg',
    'Heat\'s row shows its TMDB poster (tmdb_image_base_url + poster_path), loaded');
  await until('sync card counts the adds', async () =>
    /added\s+2/.test(await dash.locator('.card[data-card="Sync"]').innerText()), 10000);
  ok('the Sync card counts 2 added');
  await dash.evaluate(() => window.scrollTo(0, 0));
  await shot(dash, 'dashboard-sync.png');
  noErrors(dash, 'dashboard with sync, blocklist and NAT-PMP');

  // -- a second tab joins: it shows the last run and its log from POST /sync status --
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true,
    hasTouch: true, deviceScaleFactor: 2 });
  const p2 = await open(phone, M + '/dashboard');
  await p2.fill('#login-token', TOKEN);
  await p2.click('#login-form button');
  await until('phone: last run', async () => /added 2/.test(await p2.locator('#sync-progress').innerText()));
  check(/movies sync ok: looked at 3/.test(await p2.locator('#sync-log').innerText()),
    'a page opened later shows the last run\'s progress and log');
  await shot(p2, 'dashboard-sync-phone.png');
  noErrors(p2, 'phone dashboard with sync');
  check(foreign.length === 0, `the pages asked nothing but the daemon${foreign.length ? ' (got ' + foreign.join(' ') + ')' : ''}`);
}

(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 30000 });
  if (scenario === 'panel') await panel();
  else if (scenario === 'login') await login();
  else if (scenario === 'sync') await sync();
  else fail('usage: web_browser.js panel|login|sync');
  await browser.close();
  console.log('done');
})().catch((e) => fail(e.stack || String(e)));
