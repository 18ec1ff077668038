#!/usr/bin/env node
// bench/web.js: xmond's page with 10 000 open alerts, in headless Chromium
// (playwright-core from tests/web), against the real xmond of the build.
//
//   LULL_BUILD=build node bench/web.js      (make bench runs it)
//
// Prints one table:
//   - page load: navigation to the first rows painted, and to all 10 000
//     rows built and painted (median of BENCH_WEB_LOADS runs)
//   - one SSE event applied: the page's own time in its event handler per
//     event (JSON.parse, the row, the group counters), and the time from a
//     daemon's raise (lull's agent) to its row on the page, p50 and p99
//   - xmond's CPU per event fanned out to 0 and to 100 open streams
//     (utime+stime from /proc, over BENCH_WEB_EVENTS raises)
// Not a test: it gates nothing and prints what it measured.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const root = path.join(__dirname, '..');
let chromium;
try {
	({ chromium } = require(path.join(root, 'tests/web/node_modules/playwright-core')));
} catch (e) {
	console.log('web page: skipped: playwright-core not installed (cd tests/web && npm ci)');
	process.exit(0);
}
const lib = require(path.join(root, 'tests/web/lib.js'));
const { Xmond, Agent, until, getJSON, alertsOf, instancesOf, sleep, CHROMIUM, XMONRAISE, XMOND } = lib;
for (const [f, why] of [[CHROMIUM, 'apt-get install chromium'], [XMOND, 'make'], [XMONRAISE, 'make check builds it']]) {
	if (!fs.existsSync(f)) {
		console.log('web page: skipped: ' + f + ' missing (' + why + ')');
		process.exit(0);
	}
}

const ALERTS = +(process.env.BENCH_WEB_ALERTS || 10000);
const LOADS = +(process.env.BENCH_WEB_LOADS || 3);
const EVENTS = +(process.env.BENCH_WEB_EVENTS || 2000);
const INSTANCES = 20;

const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
const med = (a) => q([...a].sort((x, y) => x - y), 0.5);

function cpuTicks(pid) {
	const f = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
	const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
	return +v[11] + +v[12];   // utime + stime, clock ticks
}
const TICK_US = 1e6 / 100;   // USER_HZ is 100 on Linux

async function fill(x) {
	// INSTANCES daemons over 4 app types, each raising its share
	const agents = [];
	for (let i = 0; i < INSTANCES; i++) {
		agents.push(new Agent(x, ['echod', 'ternfs-shard', 'ternfs-cdc', 'backup'][i % 4], 'host-' + String(i).padStart(3, '0'),
			['--limit', String(ALERTS + 1000)]));
	}
	await until('agents up', 15000, async () =>
		instancesOf(await getJSON(x, '/api/instances')).filter((i) => i.state === 'up').length === INSTANCES);
	const per = Math.ceil(ALERTS / INSTANCES);
	await Promise.all(agents.map(async (a, k) => {
		for (let i = 0; i < per && k * per + i < ALERTS; i++)
			await a.say('raise 0 disk ' + (i % 97) + ' on volume ' + k + '/' + i + ' is ' + (80 + (i % 20)) + '% full');
	}));
	await until(ALERTS + ' open alerts', 60000, async () => alertsOf(await getJSON(x, '/api/alerts')).length >= ALERTS);
	return agents;
}

async function main() {
	const x = new Xmond('bench');
	await x.start(['--max-alerts', String(ALERTS)]);
	const agents = await fill(x);
	const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
	const rows = [];
	try {
		// --- page load
		const first = [], full = [], fetchMs = [];
		let nrows = 0;
		for (let i = 0; i < LOADS; i++) {
			const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
			const p = await ctx.newPage();
			await p.goto(x.url + '/');
			await p.waitForFunction(() => document.documentElement.dataset.ready === '1', null, { timeout: 60000 });
			const t = await p.evaluate(() => new Promise((res) => requestAnimationFrame(() => setTimeout(() => res({
				painted: performance.now(), first: window.xmon.firstRowsAt, timing: window.xmon.timing,
				rows: document.querySelectorAll('#groups li.alert').length, open: window.xmon.state.open.size,
			}), 0))));
			if (t.open < ALERTS) throw new Error('only ' + t.open + ' alerts on the page');
			nrows = t.rows;
			first.push(t.first || t.painted);
			full.push(t.painted);
			fetchMs.push(t.timing.fetch);
			await ctx.close();
		}
		rows.push(['page load, ' + ALERTS + ' alerts: navigation to rows in view', med(first).toFixed(0) + ' ms', 'goal < 1000 ms']);
		rows.push(['page load: to every alert placed, painted', med(full).toFixed(0) + ' ms', 'API read ' + med(fetchMs).toFixed(0) + ' ms; ' + nrows + ' rows built']);

		// --- events applied on an open page with 10 000 rows
		const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const p = await ctx.newPage();
		await p.goto(x.url + '/');
		await p.waitForFunction(() => document.documentElement.dataset.ready === '1', null, { timeout: 60000 });
		const a0 = await p.evaluate(() => [window.xmon.applied, window.xmon.applyMs]);
		const lat = [];
		// a daemon whose app type sorts first, so its group is in view
		const ag = new Agent(x, '0-bench', 'latency-1', ['--limit', '1000']);
		agents.push(ag);
		await until('the latency agent up', 10000, async () =>
			instancesOf(await getJSON(x, '/api/instances')).some((i) => i.instance === 'latency-1' && i.state === 'up'));
		for (let i = 0; i < 100; i++) {
			const m = 'bench event ' + i + ' ' + Date.now();
			await p.evaluate((text) => {
				window.__seen = 0;
				const obs = new MutationObserver(() => {
					for (const a of document.querySelectorAll('#groups a.msg'))
						if (a.textContent === text) { window.__seen = Date.now(); obs.disconnect(); return; }
				});
				obs.observe(document.getElementById('groups'), { childList: true, subtree: true });
			}, m);
			const t = Date.now();
			await ag.say('raise 0 ' + m);
			await p.waitForFunction(() => window.__seen > 0, null, { timeout: 10000 });
			lat.push((await p.evaluate(() => window.__seen)) - t);
		}
		const a1 = await p.evaluate(() => [window.xmon.applied, window.xmon.applyMs]);
		lat.sort((u, v) => u - v);
		rows.push(['one SSE event applied (page handler, 10 000 rows)', ((a1[1] - a0[1]) / (a1[0] - a0[0])).toFixed(3) + ' ms', (a1[0] - a0[0]) + ' events']);
		rows.push(['daemon raise -> row on the page, p50 / p99', q(lat, 0.5) + ' / ' + q(lat, 0.99) + ' ms', 'goal < 100 ms']);
		await ctx.close();

		// --- xmond CPU per event, 0 vs 100 streams
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
			const c0 = cpuTicks(x.proc.pid);
			const t0 = Date.now();
			for (let i = 0; i < EVENTS; i++) await a.say('alert c' + (i % 200) + ' 0 0 cpu bench ' + streams + ' ' + i);
			await sleep(300);
			const c1 = cpuTicks(x.proc.pid);
			for (const r of conns) r.destroy();
			await sleep(200);
			return { us: ((c1 - c0) * TICK_US) / EVENTS, s: (Date.now() - t0) / 1000 };
		};
		const c0 = await cpu(0);
		const c100 = await cpu(100);
		rows.push(['xmond CPU per event, no stream open', c0.us.toFixed(1) + ' us', EVENTS + ' alert updates']);
		rows.push(['xmond CPU per event, 100 streams', c100.us.toFixed(1) + ' us', (c100.us / Math.max(c0.us, 0.1)).toFixed(2) + 'x of no stream']);
	} finally {
		await browser.close();
		for (const a of agents) a.kill();
		await x.stop();
	}
	const w = Math.max(...rows.map((r) => r[0].length));
	console.log('\n== web page (bench/web.js): Chromium ' + (await chromiumVersion()) + ', ' + ALERTS + ' open alerts over ' + INSTANCES + ' instances');
	for (const r of rows) console.log(r[0].padEnd(w) + '  ' + r[1].padStart(12) + '  ' + r[2]);
}

async function chromiumVersion() {
	try { return require('child_process').execFileSync(CHROMIUM, ['--version']).toString().trim().split(' ')[1]; } catch (e) { return '?'; }
}

main().then(() => process.exit(0), (e) => { console.error('bench/web.js: ' + e.stack); process.exit(111); });
