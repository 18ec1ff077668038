// xmon's page: open alerts grouped by app type and instance, live by
// server-sent events.
//
// Every string from the server came from some daemon and is untrusted: it
// reaches the DOM through textContent, setAttribute or a URL parameter,
// never as markup. The page is served with a CSP that forbids inline code
// and eval, so nothing here may need either.
//
// State: S.open maps an alert key to its entry {a, row, ...}; entries live
// in per-app-type, per-instance groups kept sorted newest first. A group
// shows rows for its first `limit` matching entries only (sync), so 10 000
// alerts do not mean 10 000 rows, and one event touches one group: never a
// full re-render.
'use strict';

(function () {
const RECENT_MAX = 50;
const AGE_EVERY_MS = 5000;
const PAGE = 100;            // rows shown per instance before "show more"
const PAGE_MORE = 500;       // rows added by one "show more"

const S = {
	csrf: '',
	token: sessionStorage.getItem('xmon-token') || '',
	open: new Map(),        // key -> entry
	apps: new Map(),        // app_type -> app group
	recent: [],             // cleared and binned alerts, newest first
	instances: new Map(),   // app_type + '\0' + instance -> instance object
	filter: { app: '', inst: '', q: '' },
	lastId: '',
	loading: 0,             // generation of the snapshot being read, 0: none
	buffer: null,           // events received while reading a snapshot
	detailKey: '',
	stream: null,           // AbortController of the event stream
	retry: 500,
};
window.xmon = { applied: 0, applyMs: 0, state: S };   // for tests and benchmarks

const $ = (id) => document.getElementById(id);
const GROUPS = $('groups');   // detached while a snapshot is built

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
}

// ---- time ------------------------------------------------------------------

function ms(t) {
	const v = Date.parse(t);
	return isNaN(v) ? 0 : v;
}

function age(t, now) {
	let s = Math.max(0, Math.floor((now - t) / 1000));
	if (s < 60) return s + 's';
	let m = Math.floor(s / 60);
	if (m < 60) return m + 'm';
	let h = Math.floor(m / 60);
	if (h < 48) return h + 'h ' + (m % 60) + 'm';
	return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}

// local wall-clock time, with the date when it is not today
function clock(t, now) {
	const d = new Date(t);
	const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
	if (d.toDateString() === new Date(now).toDateString()) return hm;
	return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
}

// ---- HTTP ------------------------------------------------------------------

function headers(extra) {
	const h = Object.assign({ Accept: 'application/json' }, extra || {});
	if (S.token) h.Authorization = 'Bearer ' + S.token;
	return h;
}

class HttpError extends Error {
	constructor(status, text) {
		super(text || ('HTTP ' + status));
		this.status = status;
	}
}

async function api(path, opts) {
	const o = Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts || {});
	o.headers = headers(o.headers);
	const r = await fetch(path, o);
	if (r.status === 401) {
		askToken(S.token ? 'The token was refused.' : '');
		throw new HttpError(401, 'the server asks for its token');
	}
	const text = await r.text();
	if (!r.ok) {
		let msg = text;
		try { msg = JSON.parse(text).error || text; } catch (e) { /* plain text */ }
		throw new HttpError(r.status, 'HTTP ' + r.status + ': ' + String(msg).slice(0, 300));
	}
	return text ? JSON.parse(text) : null;
}

function list(j, name) {
	if (Array.isArray(j)) return j;
	if (j && Array.isArray(j[name])) return j[name];
	return [];
}

function showError(msg) {
	const e = $('error');
	e.textContent = msg || '';
	e.hidden = !msg;
}

// ---- sign-in (--http-token) ------------------------------------------------

function askToken(msg) {
	S.token = '';
	sessionStorage.removeItem('xmon-token');
	if (S.stream) S.stream.abort();
	S.stream = null;
	$('main').hidden = true;
	$('login').hidden = false;
	$('login-error').textContent = msg;
	$('login-token').focus();
}

$('login').addEventListener('submit', (ev) => {
	ev.preventDefault();
	S.token = $('login-token').value.trim();
	$('login-token').value = '';
	sessionStorage.setItem('xmon-token', S.token);
	start();
});

// ---- groups ----------------------------------------------------------------

const cmpStr = new Intl.Collator(undefined, { numeric: true }).compare;

// newest first; ties (same millisecond) by key, which xmond assigns in
// increasing order: a longer decimal key is the larger one
function before(x, y) {
	if (x.t !== y.t) return x.t > y.t;
	const kx = x.a.key, ky = y.a.key;
	if (kx.length !== ky.length) return kx.length > ky.length;
	return kx > ky;
}

function appGroup(name, create) {
	let g = S.apps.get(name);
	if (g || !create) return g;
	const sec = el('section', 'app');
	const h = el('h3', 'app-h');
	const count = el('span', 'count');
	h.append(el('span', 'app-name', name), ' ', count);
	sec.append(h);
	g = { name, el: sec, count, insts: new Map(), n: 0, shown: 0 };
	S.apps.set(name, g);
	// keep app sections sorted by name
	let next = null;
	for (const o of S.apps.values())
		if (o !== g && cmpStr(o.name, name) > 0 && (!next || cmpStr(o.name, next.name) < 0)) next = o;
	GROUPS.insertBefore(sec, next ? next.el : null);
	addOption($('f-app'), name);
	return g;
}

function instGroup(app, name, create) {
	let g = app.insts.get(name);
	if (g || !create) return g;
	const div = el('div', 'inst');
	const h = el('h4', 'inst-h');
	const count = el('span', 'count');
	h.append(el('span', 'inst-name', name), ' ', count);
	const ul = el('ul', 'alerts');
	const more = el('button', 'more-btn');
	more.type = 'button';
	more.hidden = true;
	div.append(h, ul, more);
	g = { name, app, el: div, ul, more, count, items: [], shown: 0, limit: PAGE, live: false };
	MORE.set(more, g);
	GROUP_OF.set(div, g);
	NEAR.observe(div);
	app.insts.set(name, g);
	let next = null;
	for (const o of app.insts.values())
		if (o !== g && cmpStr(o.name, name) > 0 && (!next || cmpStr(o.name, next.name) < 0)) next = o;
	app.el.insertBefore(div, next ? next.el : null);
	addOption($('f-inst-list'), name);
	return g;
}

const MORE = new WeakMap();   // "show more" button -> its group
const GROUP_OF = new WeakMap();   // .inst element -> its group

// A group gets rows once it comes near the viewport (then keeps them): the
// first render of 10 000 alerts builds what can be seen, and the rest holds
// its place with an estimated height until scrolled to.
const NEAR = new IntersectionObserver((entries) => {
	for (const en of entries) {
		if (!en.isIntersecting) continue;
		const ig = GROUP_OF.get(en.target);
		NEAR.unobserve(en.target);
		if (!ig || ig.live) continue;
		ig.live = true;
		touch(ig);
	}
}, { rootMargin: '2000px 0px' });
let rowHeight = 0;

function addOption(parent, value) {
	for (const o of parent.children) if (o.value === value) return;
	const o = document.createElement('option');
	o.value = value;
	o.textContent = value;
	parent.append(o);
}

// a link a person can open in a new tab: the detail view of that alert
function alertHref(key) {
	return '/?alert=' + encodeURIComponent(key);
}

// Rows are clones of two prototypes (binnable or not): one cloneNode is
// much cheaper than building the same elements one by one, which matters
// for the first render of 10 000 alerts.
const PROTO = {};
function proto(binnable) {
	const k = binnable ? 'b' : 'n';
	if (PROTO[k]) return PROTO[k];
	const li = el('li', 'alert');
	const meta = el('span', 'meta');
	li.append(el('a', 'msg'), meta);
	if (binnable) meta.append(el('span', 'tag', 'binnable'));
	meta.append(el('time', 'age'));
	if (binnable) {
		const b = el('button', 'bin', 'bin');
		b.type = 'button';
		b.setAttribute('aria-label', 'bin this alert');
		meta.append(b);
	}
	PROTO[k] = li;
	return li;
}

function makeRow(e, now) {
	const a = e.a;
	const li = proto(a.binnable).cloneNode(true);
	const link = li.firstChild, meta = li.lastChild;
	const msg = String(a.message);
	const nl = msg.indexOf('\n');
	const first = nl < 0 ? msg : msg.slice(0, nl);
	link.textContent = first;
	link.href = alertHref(a.key);
	if (nl >= 0 || first.length > 80) link.title = msg.slice(0, 2000);
	const t = a.binnable ? meta.children[1] : meta.firstChild;
	t.textContent = age(e.t, now);
	t.dateTime = a.created;
	t.title = a.created;
	e.ageEl = t;
	if (nl >= 0) meta.prepend(el('span', 'more', '+' + (msg.split('\n').length - 1) + ' lines'));
	li.setAttribute('data-key', a.key);
	e.row = li;
	return li;
}

function matches(e) {
	const f = S.filter;
	if (f.app && e.a.app_type !== f.app) return false;
	if (f.inst && !e.instLc.includes(f.inst.toLowerCase())) return false;
	if (f.q) {
		if (e.lc === null) e.lc = (String(e.a.message) + '\n' + String(e.a.alert_id)).toLowerCase();
		if (!e.lc.includes(f.q.toLowerCase())) return false;
	}
	return true;
}

function entryOf(a) {
	return {
		a, t: ms(a.created) || ms(a.updated), row: null, ageEl: null, shown: true, fresh: false,
		lc: null, instLc: String(a.instance).toLowerCase(),
	};
}

// position of e in the sorted items (binary search)
function slot(items, e) {
	let lo = 0, hi = items.length;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (before(items[mid], e)) lo = mid + 1; else hi = mid;
	}
	return lo;
}

function addOpen(a, now, fresh) {
	const e = entryOf(a);
	const app = appGroup(String(a.app_type), true);
	const ig = instGroup(app, String(a.instance), true);
	e.inst = ig;
	ig.items.splice(slot(ig.items, e), 0, e);
	app.n++;
	e.fresh = fresh;
	e.shown = matches(e);
	if (e.shown) { ig.shown++; app.shown++; }
	S.open.set(a.key, e);
	touch(ig);
	return e;
}

function removeOpen(key) {
	const e = S.open.get(key);
	if (!e) return null;
	S.open.delete(key);
	const ig = e.inst, app = ig.app;
	const i = ig.items.indexOf(e);
	if (i >= 0) ig.items.splice(i, 1);
	if (e.row) e.row.remove();
	app.n--;
	if (e.shown) { ig.shown--; app.shown--; }
	if (ig.items.length === 0) {
		ig.el.remove();
		app.insts.delete(ig.name);
	}
	if (app.n === 0) {
		app.el.remove();
		S.apps.delete(app.name);
	}
	touch(ig);
	return e;
}

// group header counts, done once per batch of events
const dirty = new Set();
let flushQueued = false;
function touch(ig) {
	dirty.add(ig);
	scheduleFlush();
}
function scheduleFlush() {
	if (flushQueued) return;
	flushQueued = true;
	queueMicrotask(flush);
}
// Make a group's list show its first ig.limit matching alerts, newest
// first, creating rows only for those: a group of 10 000 alerts costs
// ig.limit rows until a person asks for more. One pass over the group's
// entries, moving or removing only rows that are out of place.
function sync(ig, now) {
	if (!ig.live) {
		let n = 0;
		for (const e of ig.items) if (e.shown) n++;
		ig.ul.style.height = Math.min(n, ig.limit) * (rowHeight || 40) + 'px';
		return;
	}
	ig.ul.style.height = '';
	let shown = 0, cursor = ig.ul.firstChild;
	for (const e of ig.items) {
		const want = e.shown && shown < ig.limit;
		if (e.shown) shown++;
		if (want) {
			if (!e.row) {
				makeRow(e, now);
				if (e.fresh) e.row.classList.add('fresh');
			}
			if (e.row === cursor) cursor = cursor.nextSibling;
			else ig.ul.insertBefore(e.row, cursor);
		} else if (e.row && e.row.parentNode) {
			if (e.row === cursor) cursor = cursor.nextSibling;
			e.row.remove();
		}
		e.fresh = false;
	}
	if (!rowHeight && ig.ul.firstChild) {
		rowHeight = ig.ul.firstChild.getBoundingClientRect().height;
		if (!window.xmon.firstRowsAt) window.xmon.firstRowsAt = performance.now();
	}
	const rest = shown - Math.min(shown, ig.limit);
	ig.more.hidden = rest === 0;
	if (rest) ig.more.textContent = 'show ' + Math.min(rest, PAGE_MORE) + ' more of ' + rest;
}

function flush() {
	flushQueued = false;
	const now = Date.now();
	for (const ig of dirty) {
		if (ig.el.parentNode) sync(ig, now);
		ig.count.textContent = countText(ig.shown, ig.items.length);
		ig.el.hidden = ig.shown === 0;
		const app = ig.app;
		app.count.textContent = countText(app.shown, app.n);
		app.el.hidden = app.shown === 0;
	}
	dirty.clear();
	summary();
}

function countText(shown, n) {
	return shown === n ? '(' + n + ')' : '(' + shown + ' of ' + n + ')';
}

function summary() {
	const parts = [];
	let shown = 0;
	const names = [...S.apps.keys()].sort(cmpStr);
	for (const name of names) {
		const g = S.apps.get(name);
		parts.push(name + ' ' + g.n);
		shown += g.shown;
	}
	const n = S.open.size;
	document.title = (n ? '(' + n + ') ' + parts.join(' · ') + ' — ' : '') + 'xmon';
	$('summary').textContent = n ? n + ' open: ' + parts.join(', ') : 'no open alerts';
	$('open-count').textContent = shown === n ? '(' + n + ')' : '(' + shown + ' of ' + n + ')';
	$('empty').hidden = shown !== 0;
	$('empty').textContent = n ? 'No open alert matches the filters.' : 'No open alerts.';
}

// ---- filters ---------------------------------------------------------------

function readUrl() {
	const p = new URLSearchParams(location.search);
	S.filter.app = p.get('app_type') || '';
	S.filter.inst = p.get('instance') || '';
	S.filter.q = p.get('q') || '';
	$('f-app').value = S.filter.app;
	if ($('f-app').value !== S.filter.app) {
		addOption($('f-app'), S.filter.app);
		$('f-app').value = S.filter.app;
	}
	$('f-inst').value = S.filter.inst;
	$('f-q').value = S.filter.q;
	return p.get('alert') || '';
}

function writeUrl(push) {
	const u = new URL(location.href);
	const set = (k, v) => { if (v) u.searchParams.set(k, v); else u.searchParams.delete(k); };
	set('app_type', S.filter.app);
	set('instance', S.filter.inst);
	set('q', S.filter.q);
	set('alert', S.detailKey);
	const s = u.pathname + u.search;
	if (s === location.pathname + location.search) return;
	if (push) history.pushState(null, '', s); else history.replaceState(null, '', s);
}

function applyFilter() {
	const t0 = performance.now();
	for (const app of S.apps.values()) {
		app.shown = 0;
		for (const ig of app.insts.values()) {
			ig.shown = 0;
			for (const e of ig.items) {
				e.shown = matches(e);
				if (e.shown) ig.shown++;
			}
			app.shown += ig.shown;
			dirty.add(ig);
		}
	}
	flush();
	renderDown();
	renderRecent();
	window.xmon.filterMs = performance.now() - t0;
}

let filterTimer = 0;
function onFilter() {
	S.filter.app = $('f-app').value;
	S.filter.inst = $('f-inst').value.trim();
	S.filter.q = $('f-q').value;
	writeUrl(false);
	clearTimeout(filterTimer);
	filterTimer = setTimeout(applyFilter, S.open.size > 2000 ? 120 : 30);
}
$('f-app').addEventListener('change', onFilter);
$('f-inst').addEventListener('input', onFilter);
$('f-q').addEventListener('input', onFilter);
$('filters').addEventListener('submit', (ev) => ev.preventDefault());
$('filters').addEventListener('reset', () => setTimeout(onFilter, 0));

// ---- instances down ---------------------------------------------------------

function isDown(i) {
	if (typeof i.state === 'string') return /down|offline|dead/i.test(i.state);
	if (typeof i.status === 'string') return /down|offline|dead/i.test(i.status);
	if (typeof i.up === 'boolean') return !i.up;
	if (typeof i.alive === 'boolean') return !i.alive;
	return i.down === true;
}

function downSince(i) {
	return i.since || i.down_since || i.changed || i.last_seen || '';
}

function renderDown() {
	const ul = $('down-list');
	const now = Date.now();
	const rows = [];
	for (const i of S.instances.values()) {
		// one-shot clients (xmonctl) are gone, not down: only instances
		// whose connection lasted (steady) count
		if (!isDown(i) || i.steady === false) continue;
		if (S.filter.app && i.app_type !== S.filter.app) continue;
		if (S.filter.inst && !String(i.instance).toLowerCase().includes(S.filter.inst.toLowerCase())) continue;
		rows.push(i);
	}
	rows.sort((x, y) => ms(downSince(x)) - ms(downSince(y)) || cmpStr(String(x.instance), String(y.instance)));
	const frag = document.createDocumentFragment();
	for (const i of rows) {
		const li = el('li');
		li.append(el('strong', '', String(i.instance)), ' ', el('span', 'muted', String(i.app_type)));
		const s = downSince(i);
		if (s) {
			const t = el('time', 'since', ' down for ' + age(ms(s), now) + ', since ' + clock(ms(s), now));
			t.dateTime = s;
			t.title = 'since ' + s;
			li.append(t);
		}
		frag.append(li);
	}
	ul.replaceChildren(frag);
	$('down').hidden = rows.length === 0;
	$('down-h').textContent = rows.length === 1 ? 'Instance down' : rows.length + ' instances down';
}

function applyInstance(i) {
	S.instances.set(i.app_type + '\0' + i.instance, i);
	renderDown();
}

// ---- recent ----------------------------------------------------------------

function addRecent(a) {
	const i = S.recent.findIndex((x) => x.key === a.key);
	if (i >= 0) S.recent.splice(i, 1);
	S.recent.unshift(a);
	if (S.recent.length > RECENT_MAX) S.recent.length = RECENT_MAX;
	renderRecent();
}

function renderRecent() {
	const frag = document.createDocumentFragment();
	let n = 0;
	for (const a of S.recent) {
		if (S.filter.app && a.app_type !== S.filter.app) continue;
		const li = el('li');
		li.dataset.key = a.key;
		li.append(el('span', 'st ' + (a.state === 'binned' ? 'binned' : 'cleared'), String(a.state)));
		const link = el('a', 'msg', String(a.message).split('\n')[0]);
		link.href = alertHref(a.key);
		link.dataset.key = a.key;
		link.title = String(a.message).slice(0, 2000);
		li.append(el('span', 'where', a.app_type + ' / ' + a.instance), link);
		const t = el('time', 'muted', age(ms(a.updated), Date.now()) + ' ago');
		t.dateTime = a.updated;
		t.title = a.updated;
		li.append(t);
		frag.append(li);
		n++;
	}
	$('recent').replaceChildren(frag);
	$('recent-empty').hidden = n !== 0;
}

// ---- applying state ----------------------------------------------------------

// keys may come as numbers; the page keys maps and data attributes by text
function norm(a) {
	a.key = String(a.key);
	return a;
}

function applyAlert(a, fresh) {
	if (!a || a.key === undefined) return;
	norm(a);
	const had = S.open.get(a.key);
	if (a.state === 'open') {
		if (had) {
			// an update: replace the row in place unless its order changed
			removeOpen(a.key);
		}
		addOpen(a, Date.now(), fresh && !had);
		const i = S.recent.findIndex((x) => x.key === a.key);
		if (i >= 0) { S.recent.splice(i, 1); renderRecent(); }
	} else {
		removeOpen(a.key);
		addRecent(a);
	}
	if (S.detailKey === a.key) refreshDetail();
}

function applyEvent(kind, data) {
	const t0 = performance.now();
	let j;
	try { j = JSON.parse(data); } catch (e) { return; }
	if (kind === 'alert') applyAlert(j, true);
	else if (kind === 'instance') applyInstance(j);
	window.xmon.applied++;
	window.xmon.applyMs += performance.now() - t0;   // for bench/web.js
}

function clearAll() {
	S.open.clear();
	S.apps.clear();
	S.recent = [];
	S.instances.clear();
	GROUPS.replaceChildren();
	dirty.clear();
}

async function loadSnapshot() {
	const gen = ++S.loading || ++S.loading;
	S.buffer = [];
	try {
		const t0 = performance.now();
		const [all, inst] = await Promise.all([api('/api/alerts?state=all'), api('/api/instances')]);
		if (S.loading !== gen) return;
		const t1 = performance.now();
		const alerts = list(all, 'alerts');
		clearAll();
		const now = Date.now();
		const open = [], closed = [];
		for (const a of alerts) (norm(a).state === 'open' ? open : closed).push(a);
		closed.sort((x, y) => ms(y.updated) - ms(x.updated));
		S.recent = closed.slice(0, RECENT_MAX);
		for (const i of list(inst, 'instances')) S.instances.set(i.app_type + '\0' + i.instance, i);
		renderDown();
		renderRecent();
		// entries and group shells off the document, attached once; rows
		// follow for the groups in view (NEAR)
		const parent = GROUPS.parentNode;
		GROUPS.remove();
		for (const a of open) addOpen(a, now, false);
		flush();
		parent.append(GROUPS);
		const buf = S.buffer;
		S.buffer = null;
		S.loading = 0;
		for (const ev of buf) applyEvent(ev.kind, ev.data);
		flush();
		renderDown();
		renderRecent();
		showError('');
		document.documentElement.dataset.ready = '1';
		window.xmon.loadedAt = performance.now();
		window.xmon.timing = { fetch: t1 - t0, build: window.xmon.loadedAt - t1 };
	} catch (e) {
		if (S.loading === gen) { S.loading = 0; S.buffer = null; }
		if (e.status !== 401) showError('Could not read the alerts: ' + e.message);
		throw e;
	}
}

// Read the API, and again a second later while it fails and the stream
// that asked for it is still the current one.
function snapshot(stream) {
	loadSnapshot().catch((e) => {
		if (e.status !== 401 && S.stream === stream && stream) setTimeout(() => { if (S.stream === stream) snapshot(stream); }, 1000);
	});
}

// ---- server-sent events ----------------------------------------------------
//
// Read with fetch() rather than EventSource, so the bearer token can go
// in a header; the reconnect with Last-Event-ID is ours.

function setConn(text) {
	const c = $('conn');
	c.textContent = text;
	c.hidden = !text;
	document.documentElement.dataset.conn = text ? 'reconnecting' : 'live';
}

function onEvent(kind, data, id) {
	if (id !== undefined) S.lastId = id;
	if (kind === 'hello' || kind === 'resync') {
		if (kind === 'resync') session().catch(() => {});
		snapshot(S.stream);
		return;
	}
	if (S.buffer) { S.buffer.push({ kind, data }); return; }
	applyEvent(kind, data);
}

async function readStream(ctl) {
	const h = headers({ Accept: 'text/event-stream' });
	if (S.lastId) h['Last-Event-ID'] = S.lastId;
	const r = await fetch('/api/events', { headers: h, signal: ctl.signal, cache: 'no-store', credentials: 'same-origin' });
	if (r.status === 401) { askToken('The token was refused.'); return; }
	if (!r.ok || !r.body) throw new HttpError(r.status, 'event stream: HTTP ' + r.status);
	setConn('');
	S.retry = 500;
	const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
	let buf = '', kind = '', data = [], id;
	for (;;) {
		const { value, done } = await reader.read();
		if (done) break;
		buf += value;
		let nl;
		while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
			const line = buf.slice(0, nl);
			buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
			if (line === '') {
				if (data.length) onEvent(kind || 'message', data.join('\n'), id);
				else if (id !== undefined) S.lastId = id;
				kind = ''; data = []; id = undefined;
				continue;
			}
			if (line[0] === ':') continue;
			const c = line.indexOf(':');
			const field = c < 0 ? line : line.slice(0, c);
			let v = c < 0 ? '' : line.slice(c + 1);
			if (v[0] === ' ') v = v.slice(1);
			if (field === 'event') kind = v;
			else if (field === 'data') data.push(v);
			else if (field === 'id' && !v.includes('\0')) id = v;
			else if (field === 'retry' && /^\d+$/.test(v)) S.retry = Math.min(+v, 5000);
		}
	}
}

async function streamLoop() {
	const ctl = new AbortController();
	S.stream = ctl;
	while (S.stream === ctl) {
		try {
			await readStream(ctl);
		} catch (e) {
			if (ctl.signal.aborted) return;
		}
		if (S.stream !== ctl) return;
		setConn('reconnecting…');
		await new Promise((res) => setTimeout(res, S.retry));
		S.retry = Math.min(S.retry * 2, 5000);
	}
}

// ---- detail ----------------------------------------------------------------

function field(dl, name, value) {
	dl.append(el('dt', '', name), el('dd', '', value === undefined || value === null ? '' : String(value)));
}

let detailSeq = 0;
async function refreshDetail() {
	const key = S.detailKey;
	if (!key) return;
	const seq = ++detailSeq;
	let a;
	try {
		a = await api('/api/alerts/' + encodeURIComponent(key));
	} catch (e) {
		if (seq !== detailSeq) return;
		$('d-error').textContent = e.status === 404 ? 'This alert is no longer known.' : e.message;
		return;
	}
	if (seq !== detailSeq || S.detailKey !== key) return;
	if (a && a.alert) a = Object.assign({}, a.alert, { history: a.history || a.alert.history });
	norm(a);
	$('d-error').textContent = '';
	$('d-title').textContent = a.app_type + ' / ' + a.instance;
	const dl = $('d-fields');
	dl.replaceChildren();
	field(dl, 'State', a.state);
	field(dl, 'App type', a.app_type);
	field(dl, 'Instance', a.instance);
	field(dl, 'Alert id', a.alert_id);
	field(dl, 'Binnable', a.binnable ? 'yes' : 'no');
	field(dl, 'Created', a.created);
	field(dl, 'Updated', a.updated);
	field(dl, 'Key', a.key);
	$('d-msg').textContent = String(a.message);
	const act = $('d-actions');
	act.replaceChildren();
	if (a.binnable && a.state === 'open') {
		const b = el('button', 'bin', 'bin this alert');
		b.type = 'button';
		b.dataset.key = a.key;
		act.append(b);
	}
	const ol = $('d-hist');
	ol.replaceChildren();
	for (const h of list(a.history, 'history')) {
		const li = el('li');
		const what = h.event || h.what || h.kind || h.type || h.state || '';
		const when = h.at || h.time || h.when || h.ts || '';
		const t = el('time', '', String(when));
		t.dateTime = String(when);
		li.append(t, ' ', el('span', 'what', String(what)));
		const by = h.by || h.who;
		if (by) li.append(' by ', el('span', '', String(by)));
		if (h.message !== undefined && h.message !== null) li.append(el('span', 'hmsg', String(h.message)));
		ol.append(li);
	}
}

function openDetail(key, push) {
	S.detailKey = key;
	writeUrl(push);
	$('d-title').textContent = 'Alert';
	$('d-fields').replaceChildren();
	$('d-msg').textContent = '';
	$('d-hist').replaceChildren();
	$('d-actions').replaceChildren();
	$('d-error').textContent = '';
	const d = $('detail');
	if (!d.open) d.showModal();
	refreshDetail();
}

function closeDetail() {
	if (!S.detailKey) return;
	S.detailKey = '';
	writeUrl(false);
	if ($('detail').open) $('detail').close();
}

$('d-close').addEventListener('click', () => closeDetail());
$('detail').addEventListener('close', () => closeDetail());
$('detail').addEventListener('click', (ev) => { if (ev.target === $('detail')) closeDetail(); });

// ---- actions ---------------------------------------------------------------

async function bin(key, button) {
	button.disabled = true;
	const old = button.textContent;
	button.textContent = 'binning…';
	const post = () => api('/api/alerts/' + encodeURIComponent(key) + '/bin', {
		method: 'POST', headers: { 'X-CSRF-Token': S.csrf },
	});
	try {
		try {
			await post();
		} catch (e) {
			// a restarted xmond has a new token: fetch it and try once more
			if (e.status !== 403) throw e;
			await session();
			await post();
		}
		// the event stream removes the row; the answer may come first
		const e = S.open.get(key);
		if (e && e.a.state === 'open') applyAlert(Object.assign({}, e.a, { state: 'binned', updated: new Date().toISOString() }), false);
	} catch (e) {
		button.disabled = false;
		button.textContent = old;
		showError('Could not bin the alert: ' + e.message);
	}
}

document.addEventListener('click', (ev) => {
	const t = ev.target;
	if (!(t instanceof Element)) return;
	const more = t.closest('button.more-btn');
	if (more && MORE.has(more)) {
		const ig = MORE.get(more);
		ig.limit += PAGE_MORE;
		touch(ig);
		return;
	}
	const keyOf = (e) => e.closest('[data-key]').getAttribute('data-key');
	const b = t.closest('button.bin');
	if (b) { bin(keyOf(b), b); return; }
	const a = t.closest('a.msg');
	if (a && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && ev.button === 0) {
		ev.preventDefault();
		openDetail(keyOf(a), true);
	}
});

document.addEventListener('keydown', (ev) => {
	const tag = ev.target instanceof Element ? ev.target.tagName : '';
	if (ev.key === '/' && tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA' && !$('detail').open) {
		ev.preventDefault();
		$('f-q').focus();
	}
});

window.addEventListener('popstate', () => {
	const key = readUrl();
	applyFilter();
	if (key) openDetail(key, false); else closeDetail();
});

// ages: one timer for the page, touching only text that changed
setInterval(() => {
	const now = Date.now();
	for (const e of S.open.values()) {
		if (!e.ageEl || !e.row.parentNode) continue;
		const s = age(e.t, now);
		if (e.ageEl.textContent !== s) e.ageEl.textContent = s;
	}
	if (!$('down').hidden) renderDown();
}, AGE_EVERY_MS);

// ---- start -----------------------------------------------------------------

async function session() {
	const sess = await api('/api/session');
	S.csrf = (sess && (sess.csrf || sess.csrf_token)) || '';
}

async function start() {
	$('login').hidden = true;
	try {
		await session();
	} catch (e) {
		if (e.status !== 401) {
			$('main').hidden = false;
			showError('Could not reach xmond: ' + e.message);
			setTimeout(start, 2000);
		}
		return;
	}
	$('main').hidden = false;
	const key = readUrl();
	summary();
	if (key) openDetail(key, false);
	streamLoop();
}

start();
})();
