// tests/web/lib.js: what the browser tests and bench/web.js share: a real
// xmond on free loopback ports with its own state directory, xmonctl, and
// lull's own agent (tests/sys/xmonraise) standing in for a daemon.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const BUILD = process.env.LULL_BUILD || path.join(__dirname, '../../build');
const XMOND = path.join(BUILD, 'bin/xmond');
const XMONCTL = path.join(BUILD, 'bin/xmonctl');
const XMONRAISE = path.join(BUILD, 'tests/sys/xmonraise');   // a daemon's agent, driven by stdin
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'lull-web.'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(desc, ms, fn) {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > end) throw new Error('timed out waiting for ' + desc);
		await sleep(20);
	}
}

// ---- processes --------------------------------------------------------------
const children = new Set();
function track(p) { children.add(p); p.on('exit', () => children.delete(p)); return p; }
process.on('exit', () => { for (const p of children) try { p.kill('SIGKILL'); } catch (e) { /* gone */ } });

function freePort() {
	return new Promise((res, rej) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
		s.on('error', rej);
	});
}

class Xmond {
	constructor(name) {
		this.name = name;
		this.dir = path.join(TMP, name);
		fs.mkdirSync(this.dir, { recursive: true });
	}
	async start(extra) {
		if (!this.port) { this.port = await freePort(); this.hport = await freePort(); }
		if (extra) this.extra = extra;
		const log = fs.openSync(path.join(this.dir, 'xmond.log'), 'a');
		this.proc = track(spawn(XMOND, [
			'--listen', '127.0.0.1:' + this.port, '--http', '127.0.0.1:' + this.hport,
			'--state-dir', path.join(this.dir, 'state'), '--log', path.join(this.dir, 'xmond.log'),
			...(this.extra || []),
		], { stdio: ['ignore', log, log] }));
		fs.closeSync(log);
		this.url = 'http://127.0.0.1:' + this.hport;
		await until('xmond /healthz on ' + this.url, 10000, async () => {
			if (this.proc.exitCode !== null) throw new Error('xmond exited: ' + this.log().slice(-2000));
			try { return (await req(this, 'GET', '/healthz')).status === 200; } catch (e) { return false; }
		});
	}
	async stop(sig) {
		const p = this.proc;
		if (!p || p.exitCode !== null) return;
		const gone = new Promise((r) => p.on('exit', r));
		p.kill(sig || 'SIGTERM');
		await Promise.race([gone, sleep(5000)]);
		if (p.exitCode === null && p.signalCode === null) { p.kill('SIGKILL'); await gone; }
	}
	log() { try { return fs.readFileSync(path.join(this.dir, 'xmond.log'), 'utf8'); } catch (e) { return ''; } }
}

function req(x, method, p, headers, body) {
	return new Promise((res, rej) => {
		const r = http.request({ host: '127.0.0.1', port: x.hport, method, path: p, headers: headers || {} }, (resp) => {
			const chunks = [];
			resp.on('data', (c) => chunks.push(c));
			resp.on('end', () => res({ status: resp.statusCode, headers: resp.headers, body: Buffer.concat(chunks).toString() }));
		});
		r.on('error', rej);
		r.setTimeout(5000, () => r.destroy(new Error('timeout')));
		r.end(body);
	});
}
async function getJSON(x, p) {
	const r = await req(x, 'GET', p);
	if (r.status !== 200) throw new Error('GET ' + p + ': ' + r.status + ' ' + r.body.slice(0, 200));
	return JSON.parse(r.body);
}
const alertsOf = (j) => (Array.isArray(j) ? j : j.alerts || []);
const instancesOf = (j) => (Array.isArray(j) ? j : j.instances || []);

// xmonctl ARGS...; `raw` is a shell printf format for a message that
// node cannot pass as a string (invalid UTF-8)
function xmonctl(x, app, inst, args, opts) {
	const base = [XMONCTL, '--server', '127.0.0.1:' + x.port, '--app-type', app, '--instance', inst, '--timeout', '10'];
	let p;
	if (opts && opts.raw !== undefined)
		p = spawn('bash', ['-c', 'exec "$@" "$(printf "' + opts.raw + '")"', 'bash', ...base, ...args]);
	else
		p = spawn(base[0], [...base.slice(1), ...args]);
	track(p);
	let out = '', err = '';
	p.stdout.on('data', (d) => (out += d));
	p.stderr.on('data', (d) => (err += d));
	p.output = () => out;
	p.done = new Promise((res) => p.on('exit', (code) => res({ code, out, err })));
	return p;
}
async function raise(x, app, inst, msg, opts) {
	opts = opts || {};
	const args = ['raise'];
	if (opts.binnable) args.push('--binnable');
	if (opts.raw === undefined) args.push(msg);
	const r = await xmonctl(x, app, inst, args, opts).done;
	if (r.code !== 0) throw new Error('xmonctl raise: ' + r.code + ' ' + r.err);
	return r.out.trim();
}
// the alert's API key, from the id xmonctl printed
async function keyOf(x, inst, id) {
	return until('alert ' + id + ' in the API', 5000, async () => {
		const a = alertsOf(await getJSON(x, '/api/alerts?state=all')).find((a) => a.instance === inst && String(a.alert_id) === String(id));
		return a && String(a.key);
	});
}
// A daemon's xmon agent (lull's own, through tests/sys/xmonraise): logged
// on and steady, it raises on command. say() resolves with its answer.
class Agent {
	constructor(x, app, inst, extra) {
		this.p = track(spawn(XMONRAISE, ['--server', '127.0.0.1:' + x.port, '--app-type', app, '--instance', inst, '--heartbeat', '1', ...(extra || [])],
			{ stdio: ['pipe', 'pipe', 'ignore'] }));
		this.buf = '';
		this.waiters = [];
		this.p.stdout.on('data', (d) => {
			this.buf += d;
			let nl;
			while ((nl = this.buf.indexOf('\n')) >= 0) {
				const line = this.buf.slice(0, nl);
				this.buf = this.buf.slice(nl + 1);
				const w = this.waiters.shift();
				if (w) w(line);
			}
		});
	}
	say(cmd) {
		return new Promise((res) => { this.waiters.push(res); this.p.stdin.write(cmd + '\n'); });
	}
	kill() { this.p.kill('SIGKILL'); }
}

// Fill x with `total` open alerts from `instances` agents over four app
// types (host-000 ... on echod, ternfs-shard, ternfs-cdc, backup in turn),
// each raising its share; resolves with the agents, still logged on.
const FILL_APPS = ['echod', 'ternfs-shard', 'ternfs-cdc', 'backup'];
async function fillAlerts(x, total, instances) {
	const agents = [];
	for (let i = 0; i < instances; i++)
		agents.push(new Agent(x, FILL_APPS[i % 4], 'host-' + String(i).padStart(3, '0'), ['--limit', String(total + 1000)]));
	await until(instances + ' agents up', 15000, async () =>
		instancesOf(await getJSON(x, '/api/instances')).filter((i) => i.state === 'up').length === instances);
	const per = Math.ceil(total / instances);
	await Promise.all(agents.map(async (a, k) => {
		for (let i = 0; i < per && k * per + i < total; i++)
			await a.say('raise 0 disk ' + (i % 97) + ' on volume ' + k + '/' + i + ' is ' + (80 + (i % 20)) + '% full');
	}));
	await until(total + ' open alerts', 60000, async () => (await getJSON(x, '/api/alerts?limit=1')).total >= total);
	return agents;
}

async function alertByKey(x, key) { return getJSON(x, '/api/alerts/' + encodeURIComponent(key)); }
const stateOf = (a) => (a.alert ? a.alert.state : a.state);

process.on('exit', () => fs.rmSync(TMP, { recursive: true, force: true }));
// killed (prove's timeout, ^C): still stop every child through 'exit'
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(128 + require('os').constants.signals[sig]));

module.exports = {
	BUILD, XMOND, XMONCTL, XMONRAISE, CHROMIUM, TMP, sleep, until, track, freePort, Xmond, req, getJSON,
	alertsOf, instancesOf, xmonctl, raise, keyOf, Agent, alertByKey, stateOf, fillAlerts, FILL_APPS,
};
