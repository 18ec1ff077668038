#!/usr/bin/env node
// tests/web/mock.js: a stand-in for xmond's HTTP side (the JSON API of
// docs/xmond.md and /api/events), serving the page from cmd/xmond/web/.
// For working on the page without a server build and for bench/web.js;
// the browser tests run against the real xmond.
//
//   node tests/web/mock.js [--port N] [--alerts N] [--down N]
//   POST /mock/raise {app_type, instance, message, binnable} -> {key}
//   POST /mock/clear {key} | /mock/instance {app_type, instance, state}
//   POST /mock/restart   drop every stream and forget the event ring
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const PORT = +opt('--port', 8088);
const WEB = path.join(__dirname, '../../cmd/xmond/web');
const CSRF = require('crypto').randomBytes(16).toString('hex');
const RING = 1024;

let boot = Date.now().toString(16);
let seq = 0;
let ring = [];
const streams = new Set();
const alerts = new Map();
const instances = new Map();
let nextKey = 1;

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function publish(kind, obj) {
	seq++;
	const ev = { seq, text: `id: ${boot}-${seq}\nevent: ${kind}\ndata: ${JSON.stringify(obj)}\n\n` };
	ring.push(ev);
	if (ring.length > RING) ring.shift();
	for (const s of streams) s.write(ev.text);
}

function raise(app_type, instance, message, binnable, created) {
	const key = String(nextKey++);
	const t = created || now();
	const a = { key, app_type, instance, alert_id: Date.now() * 1000 + nextKey, binnable: !!binnable, message, state: 'open', created: t, updated: t, history: [{ at: t, event: 'created', message }] };
	alerts.set(key, a);
	if (!instances.has(app_type + '\0' + instance))
		instances.set(app_type + '\0' + instance, { app_type, instance, state: 'up', since: t });
	publish('alert', pub(a));
	return a;
}
function pub(a) { const { history, ...rest } = a; return rest; }
function close(a, state, by) {
	a.state = state;
	a.updated = now();
	a.history.push({ at: a.updated, event: state, by });
	publish('alert', pub(a));
}

const N = +opt('--alerts', 0);
for (let i = 0; i < N; i++) {
	const t = new Date(Date.now() - i * 7000).toISOString().replace(/\.\d+Z$/, 'Z');
	raise('app' + (i % 5), 'host' + (i % 37) + '.example', 'alert number ' + i + (i % 3 ? '' : ': disk nearly full'), i % 2 === 0, t);
}
for (let i = 0; i < +opt('--down', 0); i++)
	instances.set('app0\0down' + i, { app_type: 'app0', instance: 'down' + i, state: 'down', since: new Date(Date.now() - 600e3).toISOString() });

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
const SEC = {
	'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY',
};

function send(res, code, obj) {
	res.writeHead(code, Object.assign({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }, SEC));
	res.end(JSON.stringify(obj));
}

function body(req) {
	return new Promise((ok) => { let b = ''; req.on('data', (d) => (b += d)); req.on('end', () => ok(b ? JSON.parse(b) : {})); });
}

function csrfOk(req) {
	const h = req.headers;
	if (!h.origin && !h['sec-fetch-site']) return true;
	if (h['sec-fetch-site'] && h['sec-fetch-site'] !== 'same-origin') return false;
	if (h.origin && h.origin !== 'http://' + h.host) return false;
	return h['x-csrf-token'] === CSRF;
}

http.createServer(async (req, res) => {
	const u = new URL(req.url, 'http://x');
	const p = u.pathname;
	if (req.method === 'GET' && (p === '/' || /^\/(app\.js|style\.css|favicon\.svg)$/.test(p))) {
		const f = p === '/' ? 'index.html' : p.slice(1);
		res.writeHead(200, Object.assign({ 'Content-Type': TYPES[path.extname(f)], 'Cache-Control': 'no-cache' }, SEC));
		return res.end(fs.readFileSync(path.join(WEB, f)));
	}
	if (p === '/api/session') return send(res, 200, { csrf: CSRF, auth: false });
	if (p === '/api/alerts' && req.method === 'GET') {
		// as xmond: open ones newest first, then (state=all) the closed ones;
		// app_type= and instance= exact, limit= the first N, total all
		const sp = u.searchParams, st = sp.get('state') || 'open';
		const want = (a) => (st === 'all' || a.state === st || (st === 'closed' && a.state !== 'open')) &&
			(!sp.has('app_type') || a.app_type === sp.get('app_type')) && (!sp.has('instance') || a.instance === sp.get('instance'));
		const all = [...alerts.values()].reverse();
		const hits = [...all.filter((a) => a.state === 'open'), ...all.filter((a) => a.state !== 'open')].filter(want);
		const out = hits.slice(0, sp.has('limit') ? +sp.get('limit') : hits.length).map(pub);
		return send(res, 200, { alerts: out, count: out.length, total: hits.length });
	}
	if (p === '/api/instances') {
		const open = new Map();
		for (const a of alerts.values()) if (a.state === 'open') open.set(a.app_type + '\0' + a.instance, (open.get(a.app_type + '\0' + a.instance) || 0) + 1);
		return send(res, 200, { instances: [...instances.entries()].map(([k, i]) => Object.assign({}, i, { open_alerts: open.get(k) || 0 })) });
	}
	let m;
	if ((m = /^\/api\/alerts\/([^/]+)$/.exec(p)) && req.method === 'GET') {
		const a = alerts.get(decodeURIComponent(m[1]));
		return a ? send(res, 200, a) : send(res, 404, { error: 'no such alert' });
	}
	if ((m = /^\/api\/alerts\/([^/]+)\/bin$/.exec(p))) {
		if (req.method !== 'POST') return send(res, 405, { error: 'POST only' });
		if (!csrfOk(req)) return send(res, 403, { error: 'cross-site request refused' });
		const a = alerts.get(decodeURIComponent(m[1]));
		if (!a) return send(res, 404, { error: 'no such alert' });
		if (!a.binnable || a.state !== 'open') return send(res, 409, { error: 'not binnable' });
		close(a, 'binned', 'web');
		return send(res, 200, pub(a));
	}
	if (p === '/api/events') {
		res.writeHead(200, Object.assign({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' }, SEC));
		const last = req.headers['last-event-id'] || '';
		res.write('retry: 1000\n\n');
		const lm = /^([0-9a-f]+)-(\d+)$/.exec(last);
		if (!last) res.write(`id: ${boot}-${seq}\nevent: hello\ndata: {}\n\n`);
		else if (!lm || lm[1] !== boot || +lm[2] > seq || (ring.length && +lm[2] < ring[0].seq - 1) || (!ring.length && +lm[2] < seq))
			res.write(`id: ${boot}-${seq}\nevent: resync\ndata: {}\n\n`);
		else for (const ev of ring) if (ev.seq > +lm[2]) res.write(ev.text);
		streams.add(res);
		req.on('close', () => streams.delete(res));
		return;
	}
	if (p.startsWith('/mock/') && req.method === 'POST') {
		const b = await body(req);
		if (p === '/mock/raise') return send(res, 200, pub(raise(b.app_type, b.instance, b.message, b.binnable)));
		if (p === '/mock/clear') { const a = alerts.get(b.key); if (a) close(a, 'cleared'); return send(res, 200, {}); }
		if (p === '/mock/instance') {
			const i = { app_type: b.app_type, instance: b.instance, state: b.state, since: now() };
			instances.set(b.app_type + '\0' + b.instance, i);
			publish('instance', i);
			return send(res, 200, i);
		}
		if (p === '/mock/restart') {
			for (const s of streams) s.destroy();
			streams.clear();
			ring = [];
			boot = Date.now().toString(16);
			seq = 0;
			return send(res, 200, {});
		}
	}
	send(res, 404, { error: 'not found' });
}).listen(PORT, '127.0.0.1', () => console.log('mock xmond on http://127.0.0.1:' + PORT));
