#!/usr/bin/env node
// bench/web.js: xmond's page with 10 000 open alerts, in headless Chromium
// (playwright-core from tests/web), against the real xmond of the build.
//
//   LULL_BUILD=build node bench/web.js      (make bench runs it)
//   BENCH_WEB_BASE=main node bench/web.js   (also the page of git rev main,
//                                            served through the same xmond)
//
// Prints one table:
//   - page load: navigation to the first alert rows painted (a frame after
//     they enter the document, seen by a MutationObserver the bench adds;
//     the same for any version of the page), and to every alert placed;
//     median of BENCH_WEB_LOADS runs
//   - one SSE event applied with 10 000 alerts on the page: the renderer's
//     main-thread time per event (CDP Performance.getMetrics TaskDuration:
//     script, style, layout, paint), the page's own handler time, and a
//     daemon's raise (lull's agent) to its row on the page, p50 and p99
//   - xmond's CPU per event (/proc/PID/schedstat, ns) with no stream ever
//     opened and fanned out to 100 open /api/events streams
// With BENCH_WEB_BASE, the page rows are measured for both pages in the
// same run, loads interleaved. Not a test: it gates nothing.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
let chromium;
try {
	({ chromium } = require(path.join(root, 'tests/web/node_modules/playwright-core')));
} catch (e) {
	console.log('web page: skipped: playwright-core not installed (cd tests/web && npm ci)');
	process.exit(0);
}
const lib = require(path.join(root, 'tests/web/lib.js'));
const { Xmond, Agent, until, getJSON, instancesOf, sleep, fillAlerts, CHROMIUM, XMONRAISE, XMOND } = lib;
for (const [f, why] of [[CHROMIUM, 'apt-get install chromium'], [XMOND, 'make'], [XMONRAISE, 'make check builds it']]) {
	if (!fs.existsSync(f)) {
		console.log('web page: skipped: ' + f + ' missing (' + why + ')');
		process.exit(0);
	}
}

const ALERTS = +(process.env.BENCH_WEB_ALERTS || 10000);
const LOADS = +(process.env.BENCH_WEB_LOADS || 3);
const EVENTS = +(process.env.BENCH_WEB_EVENTS || 2000);
const BASE = process.env.BENCH_WEB_BASE || '';
const INSTANCES = 20;

const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
const med = (a) => q([...a].sort((x, y) => x - y), 0.5);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// CPU time of a process in ns, all its threads (schedstat: on-CPU time,
// exact, unlike /proc/PID/stat's 10 ms ticks); threads that ended are not
// counted, so read it while they run
function cpuNs(pid) {
	let ns = 0;
	for (const t of fs.readdirSync('/proc/' + pid + '/task'))
		try { ns += +fs.readFileSync('/proc/' + pid + '/task/' + t + '/schedstat', 'utf8').split(' ')[0]; } catch (e) { /* gone */ }
	return ns;
}

// the page's files at git rev `rev`, to serve instead of the built-in ones
function baseFiles(rev) {
	const files = {};
	for (const f of ['index.html', 'app.js', 'style.css'])
		files[f] = execFileSync('git', ['-C', root, 'show', rev + ':cmd/xmond/web/' + f]);
	return files;
}

function treeFiles() {
	const files = {};
	for (const f of ['index.html', 'app.js', 'style.css']) files[f] = fs.readFileSync(path.join(root, 'cmd/xmond/web', f));
	return files;
}

// a context whose page is `files` (null: xmond's own), with xmond's headers
async function context(browser, x, files) {
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	if (files) {
		for (const [f, route] of [['index.html', '/'], ['app.js', '/app.js'], ['style.css', '/style.css']]) {
			// xmond's own headers (CSP and all), read once
			if (!files.headers) files.headers = {};
			if (!files.headers[f]) {
				const h = Object.assign({}, (await lib.req(x, 'GET', route)).headers);
				for (const k of ['etag', 'content-length', 'connection', 'keep-alive', 'date']) delete h[k];
				files.headers[f] = h;
			}
			await ctx.route(x.url + route, (r) => r.fulfill({ status: 200, headers: files.headers[f], body: files[f] }));
		}
	}
	// the first alert row in the document, then the frame that paints it
	await ctx.addInitScript(() => {
		window.__firstPaint = 0;
		const obs = new MutationObserver(() => {
			if (!document.querySelector('#groups li.alert')) return;
			obs.disconnect();
			requestAnimationFrame(() => setTimeout(() => { window.__firstPaint = performance.now(); }, 0));
		});
		obs.observe(document, { childList: true, subtree: true });
	});
	return ctx;
}

async function loadOnce(browser, x, files) {
	const ctx = await context(browser, x, files);
	const p = await ctx.newPage();
	await p.goto(x.url + '/');
	await p.waitForFunction(() => document.documentElement.dataset.ready === '1' && window.__firstPaint > 0, null, { timeout: 60000 });
	const t = await p.evaluate(() => new Promise((res) => requestAnimationFrame(() => setTimeout(() => res({
		painted: performance.now(), first: window.__firstPaint, fetch: window.xmon.timing.fetch,
		rows: document.querySelectorAll('#groups li.alert').length, open: window.xmon.state.open.size,
	}), 0))));
	if (t.open < ALERTS) throw new Error('only ' + t.open + ' alerts on the page');
	await ctx.close();
	return t;
}

// events on an open page: main-thread time per event (all of it: the
// handler, style, layout, paint), then raise -> row latency
async function events(browser, x, files, ag, label) {
	const ctx = await context(browser, x, files);
	const p = await ctx.newPage();
	await p.goto(x.url + '/');
	await p.waitForFunction(() => document.documentElement.dataset.ready === '1', null, { timeout: 60000 });
	await sleep(500);
	const cdp = await ctx.newCDPSession(p);
	await cdp.send('Performance.enable');
	const metric = async () => {
		const m = (await cdp.send('Performance.getMetrics')).metrics;
		return m.find((v) => v.name === 'TaskDuration').value * 1000;   // ms
	};
	const n = 200;
	const a0 = await p.evaluate(() => [window.xmon.applied, window.xmon.applyMs + (window.xmon.flushMs || 0)]);
	const m0 = await metric();
	for (let i = 0; i < n; i++) {
		await ag.say('raise 0 ' + label + ' event ' + i);
		await sleep(5);   // events one by one, as a page mostly sees them
	}
	await p.waitForFunction((k) => window.xmon.applied >= k, a0[0] + n, { timeout: 20000 });
	await sleep(300);
	const m1 = await metric();
	const a1 = await p.evaluate(() => [window.xmon.applied, window.xmon.applyMs + (window.xmon.flushMs || 0)]);
	const lat = [];
	for (let i = 0; i < 100; i++) {
		const m = label + ' latency ' + i + ' ' + Date.now();
		await p.evaluate((text) => {
			window.__seen = 0;
			const obs = new MutationObserver(() => {
				const a = document.querySelector('#groups li.alert a.msg');
				if (a && a.textContent === text) { window.__seen = Date.now(); obs.disconnect(); }
			});
			obs.observe(document.getElementById('groups'), { childList: true, subtree: true });
		}, m);
		const t = Date.now();
		await ag.say('raise 0 ' + m);
		await p.waitForFunction(() => window.__seen > 0, null, { timeout: 10000 });
		lat.push((await p.evaluate(() => window.__seen)) - t);
	}
	lat.sort((u, v) => u - v);
	const flushed = await p.evaluate(() => typeof window.xmon.flushMs === 'number');
	await ctx.close();
	return { task: (m1 - m0) / n, handler: (a1[1] - a0[1]) / (a1[0] - a0[0]), flushed, lat };
}

async function main() {
	const load0 = loadavg();
	const x = new Xmond('bench');
	await x.start(['--max-alerts', String(ALERTS)]);
	const agents = await fillAlerts(x, ALERTS, INSTANCES);
	const rows = [], goals = [];
	const goal = (ok, text) => goals.push((ok ? 'met     ' : 'MISSED  ') + text);
	// with a base to compare, both pages go through the same routing
	// (the cost of a page served by Playwright, not xmond, is in both)
	const pages = [['this tree', BASE ? treeFiles() : null]];
	if (BASE) pages.push(['base ' + BASE, baseFiles(BASE)]);

	// --- xmond CPU per event, before any stream was ever opened
	const cpu = async (streams) => {
		const conns = [];
		for (let i = 0; i < streams; i++) {
			conns.push(await new Promise((res, rej) => {
				const r = http.get({ host: '127.0.0.1', port: x.hport, path: '/api/events' }, (resp) => { resp.on('data', () => {}); res(r); });
				r.on('error', rej);
			}));
		}
		await sleep(200);
		const a = agents[1];
		const c0 = cpuNs(x.proc.pid);
		for (let i = 0; i < EVENTS; i++) await a.say('alert c' + (i % 200) + ' 0 0 cpu bench ' + streams + ' ' + i);
		await sleep(300);
		const c1 = cpuNs(x.proc.pid);
		for (const r of conns) r.destroy();
		await sleep(200);
		return (c1 - c0) / 1000 / EVENTS;
	};
	const c0 = await cpu(0);

	const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
	try {
		// --- page load, the pages interleaved
		const loads = pages.map(() => []);
		for (let i = 0; i < LOADS; i++)
			for (let k = 0; k < pages.length; k++) loads[k].push(await loadOnce(browser, x, pages[k][1]));
		for (let k = 0; k < pages.length; k++) {
			const L = loads[k], tag = pages.length > 1 ? ' [' + pages[k][0] + ']' : '';
			const first = med(L.map((t) => t.first));
			rows.push(['page load, ' + ALERTS + ' alerts: to the first rows painted' + tag, first.toFixed(0) + ' ms',
				'goal < 1000 ms; runs ' + L.map((t) => t.first.toFixed(0)).join(' ')]);
			goal(first < 1000, 'web page' + tag + ': ' + ALERTS + ' alerts, first rows painted < 1 s (median ' + first.toFixed(0) + ' ms)');
			rows.push(['page load: to every alert placed, painted' + tag, med(L.map((t) => t.painted)).toFixed(0) + ' ms',
				'API read ' + med(L.map((t) => t.fetch)).toFixed(0) + ' ms; ' + L[0].rows + ' rows built']);
		}

		// --- events on an open page with 10 000 alerts; a daemon whose app
		// type sorts first, so that its group is in view
		const ag = new Agent(x, '0-bench', 'latency-1', ['--limit', '5000']);
		agents.push(ag);
		await until('the latency agent up', 10000, async () =>
			instancesOf(await getJSON(x, '/api/instances')).some((i) => i.instance === 'latency-1' && i.state === 'up'));
		for (let k = 0; k < pages.length; k++) {
			const tag = pages.length > 1 ? ' [' + pages[k][0] + ']' : '';
			const e = await events(browser, x, pages[k][1], ag, 'p' + k);
			rows.push(['one SSE event applied: renderer main thread' + tag, e.task.toFixed(3) + ' ms', 'per event, 200 raises (script, style, layout, paint)']);
			rows.push(['one SSE event applied: page handler' + tag, e.handler.toFixed(3) + ' ms', e.flushed ?
				'JSON.parse, entry, group rows and counters' : 'JSON.parse and entry only: this page does not time its row updates']);
			rows.push(['daemon raise -> row on the page, p50 / p99' + tag, q(e.lat, 0.5) + ' / ' + q(e.lat, 0.99) + ' ms', 'goal < 100 ms']);
			goal(q(e.lat, 0.5) < 100, 'web page' + tag + ': a raise on the page < 100 ms (p50 ' + q(e.lat, 0.5) + ' ms)');
		}
	} finally {
		await browser.close();
	}
	const c100 = await cpu(100);
	rows.push(['xmond CPU per event, no stream ever open', c0.toFixed(1) + ' us', EVENTS + ' alert updates (events not formatted)']);
	rows.push(['xmond CPU per event, 100 streams', c100.toFixed(1) + ' us', (c100 / Math.max(c0, 0.1)).toFixed(1) + 'x; ' +
		(c100 / 100).toFixed(2) + ' us per stream per event']);
	for (const a of agents) a.kill();
	await x.stop();
	const w = Math.max(...rows.map((r) => r[0].length));
	console.log('\n== web page (bench/web.js): Chromium ' + chromiumVersion() + ', ' + ALERTS + ' open alerts over ' + INSTANCES +
		' instances; loadavg ' + load0 + ' at start, ' + loadavg() + ' at end');
	for (const r of rows) console.log(r[0].padEnd(w) + '  ' + r[1].padStart(12) + '  ' + r[2]);
	console.log('\n== goals (bench/web.js; measurements, not tests)');
	for (const g of goals) console.log(g);
}

function chromiumVersion() {
	try { return execFileSync(CHROMIUM, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split(' ')[1]; } catch (e) { return '?'; }
}

main().then(() => process.exit(0), (e) => { console.error('bench/web.js: ' + e.stack); process.exit(111); });
