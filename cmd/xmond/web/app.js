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
// full re-render. At start a preview (/api/instances and the first groups
// with limit=) draws the first screen; the whole list is then reconciled
// into it, as it is after a resync, keeping the rows of unchanged alerts.
'use strict';

(function () {
performance.mark('xmon-script');
const RECENT_KEEP = 200;     // recently closed alerts read and kept (limit=)
const RECENT_SHOW = 50;      // of which the page lists the newest that match the filters
const AGE_EVERY_MS = 5000;
const PAGE = 100;            // rows shown per instance before "show more"
const PAGE_MORE = 500;       // rows added by one "show more"

const S = {
	csrf: '',
	token: sessionStorage.getItem('xmon-token') || '',
	open: new Map(),        // key -> entry
	apps: new Map(),        // app_type -> app group
	order: [],              // app groups sorted by name (page order)
	recent: [],             // {a, li}: cleared and binned alerts, newest first, at most RECENT_KEEP
	loaded: false,
	previewing: false,
	previewDone: null,      // promise: the preview rendered or given up          // a whole snapshot has been applied (not only the preview)
	gen: 0,                 // snapshot generation (stale entries are the other ones)
	instances: new Map(),   // app_type + '\0' + instance -> instance object
	filter: { app: '', inst: '', q: '' },
	lastId: '',
	loading: 0,             // generation of the snapshot being read, 0: none
	buffer: null,           // events received while reading a snapshot
	detailKey: '',
	stream: null,           // AbortController of the event stream
	retry: 500,
};
window.xmon = { applied: 0, applyMs: 0, flushMs: 0, state: S };   // for tests and benchmarks

const $ = (id) => document.getElementById(id);

// index.html preloads /api/instances, so that it is read while app.js
// loads. Chromium hands a preload to the first fetch of that URL whatever
// its headers, so take it over here, at once and always: no later read
// (with a token, or the snapshot's) may get it. The preview uses it when
// it answered 200; otherwise (a token is needed) it reads again.
let preloaded = fetch('/api/instances', { credentials: 'same-origin' })
	.then((r) => (r.ok ? r.json() : null)).catch(() => null);
const GROUPS = $('groups');

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

// local wall-clock time (24 h), with the date when it is not today.
// Formatted by hand: the first toLocaleTimeString() or Intl object of a
// page loads ICU data, 50-100 ms before the first render.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (v) => (v < 10 ? '0' : '') + v;
function clock(t, now) {
	const d = new Date(t);
	const hm = two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
	if (d.toDateString() === new Date(now).toDateString()) return hm;
	return MONTHS[d.getMonth()] + ' ' + d.getDate() + ' ' + hm;
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
		// requests run in parallel: the first refusal asks, the others
		// must not clear what it said
		if ($('login').hidden) askToken(S.token ? 'The token was refused.' : '');
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

// Names in natural order (host-2 before host-10), case-insensitive; by
// hand rather than Intl.Collator, whose creation loads ICU data (tens of
// ms) on the way to the first render.
function cmpStr(x, y) {
	if (x === y) return 0;
	const a = x.toLowerCase(), b = y.toLowerCase();
	let i = 0, j = 0;
	while (i < a.length && j < b.length) {
		const ca = a.charCodeAt(i), cb = b.charCodeAt(j);
		if (ca >= 48 && ca <= 57 && cb >= 48 && cb <= 57) {
			let ie = i, je = j;
			while (ie < a.length && a.charCodeAt(ie) >= 48 && a.charCodeAt(ie) <= 57) ie++;
			while (je < b.length && b.charCodeAt(je) >= 48 && b.charCodeAt(je) <= 57) je++;
			const na = a.slice(i, ie).replace(/^0+/, ''), nb = b.slice(j, je).replace(/^0+/, '');
			if (na.length !== nb.length) return na.length - nb.length;
			if (na !== nb) return na < nb ? -1 : 1;
			i = ie; j = je;
			continue;
		}
		if (ca !== cb) return ca - cb;
		i++; j++;
	}
	if (a.length - i !== b.length - j) return (a.length - i) - (b.length - j);
	return x < y ? -1 : 1;
}

// newest first; ties (same millisecond) by key, which xmond assigns in
// increasing order: a longer decimal key is the larger one
function before(x, y) {
	if (x.t !== y.t) return x.t > y.t;
	const kx = x.a.key, ky = y.a.key;
	if (kx.length !== ky.length) return kx.length > ky.length;
	return kx > ky;
}

// Groups in page order: sorted arrays kept by binary search, so that
// thousands of instances cost O(log n) each to place, not a scan.
function byName(order, name) {
	let lo = 0, hi = order.length;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (cmpStr(order[mid].name, name) < 0) lo = mid + 1; else hi = mid;
	}
	return lo;
}
function place(order, g, parent) {
	const i = byName(order, g.name);
	parent.insertBefore(g.el, i < order.length ? order[i].el : null);
	order.splice(i, 0, g);
}
function unplace(order, g) {
	const i = byName(order, g.name);
	if (order[i] === g) order.splice(i, 1);
	g.el.remove();
}

function appGroup(name, create) {
	let g = S.apps.get(name);
	if (g || !create) return g;
	const sec = el('section', 'app');
	const h = el('h3', 'app-h');
	const count = el('span', 'count');
	h.append(el('span', 'app-name', name), ' ', count);
	sec.append(h);
	// expect/expectShown: counts from /api/instances while only a preview
	// of the alerts is loaded (-1 otherwise)
	g = { name, el: sec, count, insts: new Map(), order: [], n: 0, shown: 0, expect: -1, expectShown: -1 };
	S.apps.set(name, g);
	place(S.order, g, GROUPS);
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
	g = { name, app, el: div, ul, more, count, items: [], shown: 0, limit: PAGE, live: false, expect: -1 };
	MORE.set(more, g);
	GROUP_OF.set(div, g);
	NEAR.observe(div);
	app.insts.set(name, g);
	place(app.order, g, app.el);
	addOption($('f-inst-list'), name);
	return g;
}

function dropGroup(ig) {
	const app = ig.app;
	NEAR.unobserve(ig.el);
	unplace(app.order, ig);
	app.insts.delete(ig.name);
	dirty.delete(ig);
	if (app.insts.size === 0) {
		unplace(S.order, app);
		S.apps.delete(app.name);
	}
}

const MORE = new WeakMap();   // "show more" button -> its group
const GROUP_OF = new WeakMap();   // .inst element -> its group
const ENTRY_OF = new WeakMap();   // row -> its entry (the age timer)

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
let rowHeight = 0, rowMeasure = 0;

// The groups of the first screenful get their rows at once, without
// waiting a frame for the IntersectionObserver: walk the groups in page
// order, estimating heights, until a screen and a half is covered.
function liveFirst() {
	let y = 0;
	const h = (rowHeight || 40), screen = window.innerHeight * 1.5 + 400;
	for (const app of S.order) {
		if (visibleCount(app) === 0) continue;
		y += h;
		for (const ig of app.order) {
			const n = visibleCount(ig);
			if (n === 0) continue;
			if (!ig.live) { ig.live = true; NEAR.unobserve(ig.el); dirty.add(ig); }
			y += h * (1 + Math.min(n, ig.limit));
			if (y > screen) return;
		}
	}
}

const addOptionSeen = new WeakMap();   // <select>/<datalist> -> Set of values
function addOption(parent, value) {
	let seen = addOptionSeen.get(parent);
	if (!seen) addOptionSeen.set(parent, (seen = new Set([...parent.children].map((o) => o.value))));
	if (seen.has(value)) return;
	seen.add(value);
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
	e.ageText = age(e.t, now);
	t.textContent = e.ageText;
	t.dateTime = a.created;
	t.title = a.created;
	e.ageEl = t;
	if (nl >= 0) meta.prepend(el('span', 'more', '+' + (msg.split('\n').length - 1) + ' lines'));
	li.setAttribute('data-key', a.key);
	if (e.fresh && now - e.fresh < 1500) li.classList.add('fresh');
	ENTRY_OF.set(li, e);
	e.row = li;
	return li;
}

function dropRow(e) {
	if (!e.row) return;
	e.row.remove();
	e.row = null;
	e.ageEl = null;
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
		a, t: ms(a.created) || ms(a.updated), row: null, ageEl: null, ageText: '', shown: true, fresh: 0,
		lc: null, instLc: String(a.instance).toLowerCase(), inst: null, gen: 0,
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

// e's index in its group: the binary search finds it (before() is a strict
// order), unless e's sort fields changed since it was placed
function indexOf(items, e) {
	const i = slot(items, e);
	return items[i] === e ? i : items.indexOf(e);
}

function unlink(e) {
	const ig = e.inst;
	const i = indexOf(ig.items, e);
	if (i >= 0) ig.items.splice(i, 1);
	if (e.shown) { ig.shown--; ig.app.shown--; }
}

function link(e) {
	const ig = e.inst;
	ig.items.splice(slot(ig.items, e), 0, e);
	e.shown = matches(e);
	if (e.shown) { ig.shown++; ig.app.shown++; }
}

function addOpen(a, fresh) {
	const e = entryOf(a);
	const app = appGroup(String(a.app_type), true);
	const ig = instGroup(app, String(a.instance), true);
	e.inst = ig;
	e.fresh = fresh ? Date.now() : 0;
	app.n++;
	link(e);
	S.open.set(a.key, e);
	touch(ig);
	return e;
}

// an open alert changed: its entry takes the new object and moves to its
// new place in the group; only its own row is rebuilt
function updateOpen(e, a) {
	unlink(e);
	dropRow(e);
	e.a = a;
	e.t = ms(a.created) || ms(a.updated);
	e.lc = null;
	link(e);
	touch(e.inst);
}

function removeOpen(key) {
	const e = S.open.get(key);
	if (!e) return null;
	S.open.delete(key);
	const ig = e.inst, app = ig.app;
	unlink(e);
	dropRow(e);
	app.n--;
	if (ig.items.length === 0 && ig.expect < 0) dropGroup(ig);
	else touch(ig);
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

// what a group's header counts: the entries it has, or while only a
// preview is loaded, what /api/instances said
function visibleCount(g) {
	return g.expect >= 0 ? Math.max(g.expectShown === undefined ? g.expect : g.expectShown, g.shown) : g.shown;
}
function totalCount(g) {
	return g.expect >= 0 ? Math.max(g.expect, g.insts ? g.n : g.items.length) : (g.insts ? g.n : g.items.length);
}

// Make a group's list show its first ig.limit matching alerts, newest
// first, creating rows only for those: a group of 10 000 alerts costs
// ig.limit rows until a person asks for more. The walk stops after the
// last row wanted, so an event costs O(limit), not O(group); rows out of
// place move, rows no longer wanted go; other rows are not touched.
function sync(ig, now) {
	const total = visibleCount(ig);
	const want = Math.min(total, ig.limit);
	if (!ig.live) {
		ig.ul.style.height = want * (rowHeight || 40) + 'px';
	} else {
		ig.ul.style.height = '';
		const ul = ig.ul;
		let shown = 0, cursor = ul.firstChild;
		for (const e of ig.items) {
			if (shown >= ig.limit) break;
			if (!e.shown) {
				if (e.row && e.row.parentNode) {
					if (e.row === cursor) cursor = cursor.nextSibling;
					e.row.remove();
				}
				continue;
			}
			shown++;
			if (!e.row) makeRow(e, now);
			if (e.row === cursor) cursor = cursor.nextSibling;
			else ul.insertBefore(e.row, cursor);
		}
		while (cursor) {
			const next = cursor.nextSibling;
			cursor.remove();
			cursor = next;
		}
		if (shown && !window.xmon.firstRowsAt) {
			window.xmon.firstRowsAt = performance.now();
			performance.mark('xmon-first-rows');
		}
	}
	const rest = total - want;
	ig.more.hidden = rest === 0;
	if (rest) ig.more.textContent = 'show ' + Math.min(rest, PAGE_MORE) + ' more of ' + rest;
}

function flush() {
	flushQueued = false;
	const t0 = performance.now();
	const now = Date.now();
	for (const ig of dirty) {
		if (!ig.el.parentNode) continue;
		sync(ig, now);
		const shown = visibleCount(ig);
		ig.count.textContent = countText(shown, totalCount(ig));
		ig.el.hidden = shown === 0;
		const app = ig.app;
		const ashown = visibleCount(app);
		app.count.textContent = countText(ashown, totalCount(app));
		app.el.hidden = ashown === 0;
	}
	dirty.clear();
	summary();
	// the row height for estimates, read in the next frame (where layout
	// happens anyway) rather than forcing one now
	if (!rowHeight && !rowMeasure && GROUPS.querySelector('li.alert')) {
		rowMeasure = requestAnimationFrame(() => {
			rowMeasure = 0;
			const r = GROUPS.querySelector('li.alert');
			if (r) rowHeight = r.getBoundingClientRect().height || 0;
		});
	}
	window.xmon.flushMs += performance.now() - t0;
}

function countText(shown, n) {
	return shown === n ? '(' + n + ')' : '(' + shown + ' of ' + n + ')';
}

function summary() {
	const parts = [];
	let shown = 0, n = 0;
	for (const g of S.order) {
		const gn = totalCount(g);
		parts.push(g.name + ' ' + gn);
		shown += visibleCount(g);
		n += gn;
	}
	setText(null, (n ? '(' + n + ') ' + parts.join(' · ') + ' — ' : '') + 'xmon');
	setText($('summary'), n ? n + ' open: ' + parts.join(', ') : 'no open alerts');
	setText($('open-count'), countText(shown, n));
	$('empty').hidden = shown !== 0;
	setText($('empty'), n ? 'No open alert matches the filters.' : 'No open alerts.');
}

// write text only when it changed; the title (e === null) goes to the
// browser process, which costs more than the rest of an event: at most
// every TITLE_MS, the last value winning
const TEXT = new Map();
const TITLE_MS = 250;
let titleAt = 0, titleTimer = 0;
function setText(e, text) {
	if (TEXT.get(e) === text) return;
	TEXT.set(e, text);
	if (e) { e.textContent = text; return; }
	const wait = titleAt + TITLE_MS - performance.now();
	if (wait <= 0) { titleAt = performance.now(); document.title = text; return; }
	if (!titleTimer) titleTimer = setTimeout(() => {
		titleTimer = 0;
		titleAt = performance.now();
		document.title = TEXT.get(null);
	}, wait);
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
		app.expect = app.expectShown = -1;   // a preview's counts do not know the filter
		for (const ig of app.insts.values()) {
			ig.shown = 0;
			ig.expect = -1;
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
//
// The newest RECENT_KEEP closed alerts (read with state=closed&limit=, then
// kept by events), listing the newest RECENT_SHOW that match the filters.
// Items keep their <li>: an event adds one and drops the oldest.

function recentMatches(a) {
	const f = S.filter;
	if (f.app && a.app_type !== f.app) return false;
	if (f.inst && !String(a.instance).toLowerCase().includes(f.inst.toLowerCase())) return false;
	if (f.q && !(String(a.message) + '\n' + String(a.alert_id)).toLowerCase().includes(f.q.toLowerCase())) return false;
	return true;
}

function recentRow(r, now) {
	const a = r.a;
	const li = el('li');
	li.dataset.key = a.key;
	li.append(el('span', 'st ' + (a.state === 'binned' ? 'binned' : 'cleared'), String(a.state)));
	const link = el('a', 'msg', String(a.message).split('\n')[0]);
	link.href = alertHref(a.key);
	link.dataset.key = a.key;
	link.title = String(a.message).slice(0, 2000);
	li.append(el('span', 'where', a.app_type + ' / ' + a.instance), link);
	r.ageText = age(ms(a.updated), now) + ' ago';
	const t = el('time', 'muted', r.ageText);
	t.dateTime = a.updated;
	t.title = a.updated;
	li.append(t);
	r.ageEl = t;
	r.li = li;
	return li;
}

function dropRecent(key) {
	const i = S.recent.findIndex((r) => r.a.key === key);
	if (i < 0) return false;
	const [r] = S.recent.splice(i, 1);
	if (r.li) r.li.remove();
	return true;
}

function addRecent(a) {
	dropRecent(a.key);
	// newest first by the time it closed; an event is almost always the newest
	const t = ms(a.updated);
	let i = 0;
	while (i < S.recent.length && ms(S.recent[i].a.updated) > t) i++;
	S.recent.splice(i, 0, { a, li: null, ageEl: null, ageText: '' });
	while (S.recent.length > RECENT_KEEP) {
		const r = S.recent.pop();
		if (r.li) r.li.remove();
	}
	renderRecent();
}

// place the rows of the first RECENT_SHOW matching items, in order, reusing
// their elements: a change costs the rows that moved, not the list
function renderRecent() {
	const ol = $('recent');
	const now = Date.now();
	let n = 0, cursor = ol.firstChild;
	for (const r of S.recent) {
		if (n >= RECENT_SHOW || !recentMatches(r.a)) {
			if (r.li && r.li.parentNode) {
				if (r.li === cursor) cursor = cursor.nextSibling;
				r.li.remove();
			}
			continue;
		}
		n++;
		if (!r.li) recentRow(r, now);
		if (r.li === cursor) cursor = cursor.nextSibling;
		else ol.insertBefore(r.li, cursor);
	}
	while (cursor) {
		const next = cursor.nextSibling;
		cursor.remove();
		cursor = next;
	}
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
		if (had) updateOpen(had, a);
		else addOpen(a, fresh);
		if (dropRecent(a.key)) renderRecent();
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

// Bring the open list to a snapshot of the API (newest first): entries of
// unchanged alerts keep their rows, changed ones get a new row, the rest
// go. No group is rebuilt, so a resync or the preview's replacement does
// not redraw the page.
function reconcile(alerts) {
	const gen = ++S.gen;
	for (const a of alerts) {
		norm(a);
		if (a.state !== 'open') continue;
		let e = S.open.get(a.key);
		if (e && e.a.updated === a.updated && e.a.message === a.message) {
			e.a = a;
		} else if (e) {
			dropRow(e);
			e.a = a;
			e.t = ms(a.created) || ms(a.updated);
			e.lc = null;
		} else {
			e = entryOf(a);
			const app = appGroup(String(a.app_type), true);
			e.inst = instGroup(app, String(a.instance), true);
			S.open.set(a.key, e);
		}
		e.gen = gen;
	}
	for (const [key, e] of S.open)
		if (e.gen !== gen) { dropRow(e); S.open.delete(key); }
	for (const app of S.apps.values()) {
		app.n = app.shown = 0;
		app.expect = app.expectShown = -1;
		for (const ig of app.insts.values()) { ig.items = []; ig.shown = 0; ig.expect = -1; }
	}
	// the API's order is newest first already: sort only a group it is not
	for (const a of alerts) {
		if (a.state !== 'open') continue;
		const e = S.open.get(a.key);
		if (e.gen !== gen) continue;
		e.gen = -gen;   // once, should a key come twice
		const ig = e.inst;
		ig.items.push(e);
		e.shown = matches(e);
		if (e.shown) { ig.shown++; ig.app.shown++; }
		ig.app.n++;
	}
	for (const app of [...S.apps.values()]) {
		for (const ig of [...app.insts.values()]) {
			if (ig.items.length === 0) { dropGroup(ig); continue; }
			const it = ig.items;
			for (let i = 1; i < it.length; i++)
				if (before(it[i], it[i - 1])) { it.sort((x, y) => (before(x, y) ? -1 : 1)); break; }
			dirty.add(ig);
		}
	}
}

function setRecent(closed) {
	for (const r of S.recent) if (r.li) r.li.remove();
	closed = closed.filter((a) => norm(a).state !== 'open' && !S.open.has(a.key));
	closed.sort((x, y) => ms(y.updated) - ms(x.updated));
	S.recent = closed.slice(0, RECENT_KEEP).map((a) => ({ a, li: null, ageEl: null, ageText: '' }));
}

async function loadSnapshot() {
	const gen = ++S.loading || ++S.loading;
	S.buffer = [];
	try {
		// the preview's small reads first: the whole list would only slow
		// them down (one xmond thread, one renderer); events wait in S.buffer
		if (S.previewing) await Promise.race([S.previewDone, new Promise((res) => setTimeout(res, 1000))]);
		if (S.loading !== gen) return;
		const t0 = performance.now();
		const [open, closed, inst] = await Promise.all([
			api('/api/alerts'), api('/api/alerts?state=closed&limit=' + RECENT_KEEP), api('/api/instances')]);
		if (S.loading !== gen) return;
		const t1 = performance.now();
		S.instances.clear();
		for (const i of list(inst, 'instances')) S.instances.set(i.app_type + '\0' + i.instance, i);
		reconcile(list(open, 'alerts'));
		setRecent(list(closed, 'alerts'));
		S.loaded = true;
		const buf = S.buffer;
		S.buffer = null;
		S.loading = 0;
		for (const ev of buf) applyEvent(ev.kind, ev.data);
		liveFirst();
		flush();
		renderDown();
		renderRecent();
		showError('');
		document.documentElement.dataset.ready = '1';
		window.xmon.loadedAt = performance.now();
		window.xmon.timing = { fetch: t1 - t0, build: window.xmon.loadedAt - t1 };
		performance.mark('xmon-loaded');
	} catch (e) {
		if (S.loading === gen) { S.loading = 0; S.buffer = null; }
		if (e.status !== 401) showError('Could not read the alerts: ' + e.message);
		throw e;
	}
}

// The first screenful before the whole list: /api/instances says which
// groups have open alerts and how many, and the first groups in page order
// are read with limit= (a few KiB instead of megabytes). They show while
// the whole list is read and parsed; it then replaces them (reconcile
// keeps their rows). Only at start, and only without a text filter (the
// API's q= is not the page's).
function preview() {
	if (S.filter.q) return;
	S.previewing = true;
	S.previewDone = previewRead().catch(() => { /* the whole snapshot follows anyway */ }).then(() => { S.previewing = false; });
}

async function previewRead() {
	const t0 = performance.now();
	let j = await preloaded;   // once: a later preview reads afresh
	preloaded = null;
	if (!j) j = await api('/api/instances');
	const inst = list(j, 'instances');
	if (S.loaded || S.open.size) return;
	const f = S.filter;
	const apps = new Map();
	for (const i of inst) {
		const n = +i.open_alerts || 0;
		if (!n || (f.app && i.app_type !== f.app)) continue;
		let g = apps.get(i.app_type);
		if (!g) apps.set(i.app_type, (g = { name: String(i.app_type), n: 0, shown: 0, insts: [] }));
		g.n += n;
		if (f.inst && !String(i.instance).toLowerCase().includes(f.inst.toLowerCase())) continue;
		g.shown += n;
		g.insts.push({ name: String(i.instance), n });
	}
	const order = [...apps.values()].sort((x, y) => cmpStr(x.name, y.name));
	const first = [];
	let rows = 0;
	const need = Math.ceil(window.innerHeight * 1.5 / 40);
	for (const g of order) {
		g.insts.sort((x, y) => cmpStr(x.name, y.name));
		for (const i of g.insts) {
			if (rows >= need) break;
			first.push([g.name, i.name]);
			rows += 1 + Math.min(i.n, PAGE);
		}
	}
	const got = await Promise.all(first.map(([app, name]) => api('/api/alerts?app_type=' + encodeURIComponent(app) +
		'&instance=' + encodeURIComponent(name) + '&limit=' + PAGE)));
	if (S.loaded || S.open.size) return;
	$('main').hidden = false;
	for (const i of inst) S.instances.set(i.app_type + '\0' + i.instance, i);
	renderDown();
	for (const g of order) {
		const app = appGroup(g.name, true);
		app.expect = g.n;
		app.expectShown = g.shown;
		for (const i of g.insts) instGroup(app, i.name, true).expect = i.n;
	}
	for (const j of got) for (const a of list(j, 'alerts')) if (norm(a).state === 'open' && !S.open.has(a.key)) addOpen(a, false);
	for (const app of S.apps.values()) for (const ig of app.insts.values()) dirty.add(ig);
	liveFirst();
	flush();
	window.xmon.previewAt = performance.now();
	window.xmon.previewMs = window.xmon.previewAt - t0;
	performance.mark('xmon-preview');
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

// ages: one timer for the page, over the rows that exist (groups with
// rows, the first `limit` of each; the recent list), writing only text
// that changed; nothing while the tab is hidden
setInterval(() => {
	if (document.hidden) return;
	const now = Date.now();
	for (const app of S.order) {
		for (const ig of app.order) {
			if (!ig.live) continue;
			for (let li = ig.ul.firstChild; li; li = li.nextSibling) {
				const e = ENTRY_OF.get(li);
				if (!e || !e.ageEl) continue;
				const s = age(e.t, now);
				if (e.ageText !== s) { e.ageText = s; e.ageEl.textContent = s; }
			}
		}
	}
	for (const r of S.recent) {
		if (!r.li || !r.li.parentNode) continue;
		const s = age(ms(r.a.updated), now) + ' ago';
		if (r.ageText !== s) { r.ageText = s; r.ageEl.textContent = s; }
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
	// the preview does not wait for the session: one round trip less
	// before the first rows
	readUrl();
	if (!S.loaded && !S.previewing) preview();
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
performance.mark('xmon-script-end');
})();
