#!/usr/bin/env python3
"""The mixed soak of issue 25, driven by bench/soak.sh (which see for the options).

Starts ward on a fresh database with two proxied routes to a loopback backend (this file run
as `soak.py backend PORT`: an HTTP echo and a WebSocket echo), signs the admin in and gets
credentials with bench/setup.py, then drives a steady mix for --duration:

  signin     GET /login, POST /login/password, GET /account, validate with the cookie,
             POST /logout (the page's form), validate again (401)
  refresh    POST /oauth/token grant_type=refresh_token on one of --chains chains
  val_jwt    GET /api/auth/validate with the newest access token of a chain
  val_api    GET /api/auth/validate with an API token
  proxy_get  GET through the HTTP route (JWT or API token), the backend's echo checked
  proxy_post POST of 1-32 KiB through the HTTP route, the body echoed and compared
  ws_churn   a WebSocket through the WS route (header, auth message, query or subprotocol
             credential in turn), 5 messages echoed, closed
  ws_long    --ws-long connections open for the whole run, one message every 2 s each

Every answer other than the expected one is an error, printed with what it was. ward's RSS
(VmRSS), open file descriptors and threads are sampled every --sample seconds; the verdict is
PASS when no request failed and every RSS sample after --warmup is within --tolerance % of
their median. Exit code 1 on FAIL.

Needs aiohttp (bench/soak.sh installs a pinned one into a venv under /tmp).
"""
import argparse
import asyncio
import base64
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import aiohttp
from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import setup  # noqa: E402  bench/setup.py: the admin's sign-in, refresh tokens, API token

SECRET, ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT = setup.SECRET, setup.ADMIN_EMAIL, setup.ADMIN_PASSWORD, setup.CLIENT
KINDS = ["signin", "refresh", "val_jwt", "val_api", "proxy_get", "proxy_post", "ws_churn",
         "ws_long"]
# Operations per second of each kind at --rate 1 (ws_long: messages, paced by the connections).
RATES = {"signin": 0.5, "refresh": 4, "val_jwt": 15, "val_api": 15, "proxy_get": 15,
         "proxy_post": 8, "ws_churn": 1}


# --- the backend -------------------------------------------------------------------------

def backend(port):
    """HTTP echo under /api/echo, WebSocket echo under /ws/echo; /stats (direct only) counts."""
    stats = {"http": 0, "ws_open": 0, "ws_total": 0}

    async def echo(request):
        stats["http"] += 1
        user = request.headers.get("X-Ward-User-Id", "")
        if not user or "Authorization" in request.headers:
            return web.json_response({"error": "no identity or a credential leaked"}, status=418)
        if request.method == "POST":
            body = await request.read()
            return web.Response(body=body, headers={"X-Echo-User": user})
        return web.json_response({"path": request.path, "user": user})

    async def ws_echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        stats["ws_open"] += 1
        stats["ws_total"] += 1
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        finally:
            stats["ws_open"] -= 1
        return ws

    async def get_stats(_request):
        return web.json_response(stats)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_route("*", "/api/echo/{tail:.*}", echo)
    app.router.add_get("/ws/echo/{tail:.*}", ws_echo)
    app.router.add_get("/stats", get_stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- process figures ---------------------------------------------------------------------

def proc_sample(pid):
    """RSS (KiB), open fds, threads and CPU seconds of PID."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss": rss, "fds": fds, "threads": threads, "cpu": cpu}


def self_cpu():
    t = os.times()
    return t.user + t.system


# --- the load ----------------------------------------------------------------------------

class Soak:
    def __init__(self, args, creds):
        self.args = args
        self.base = f"http://127.0.0.1:{args.port}"
        self.ws_base = f"ws://127.0.0.1:{args.port}"
        self.basic = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        self.api_token = creds["api_token"]
        # One chain per refresh token: its newest refresh token and access token.
        self.chains = [{"refresh": t, "access": creds["access_token"], "busy": False}
                       for t in creds["refresh_tokens"][: args.chains]]
        self.counts = {k: 0 for k in KINDS}
        self.errors = {k: 0 for k in KINDS}
        self.error_kinds = {}
        self.latency = {k: [] for k in KINDS}
        self.stopping = False
        self.session = None
        self.seq = 0

    # -- bookkeeping --
    def ok(self, kind, started):
        self.counts[kind] += 1
        lat = self.latency[kind]
        if len(lat) < 200_000:
            lat.append(time.monotonic() - started)

    def fail(self, kind, what):
        self.counts[kind] += 1
        self.errors[kind] += 1
        key = (kind, what[:200])
        n = self.error_kinds.get(key, 0)
        self.error_kinds[key] = n + 1
        if n == 0:
            print(f"soak: ERROR {kind}: {what[:300]}", file=sys.stderr, flush=True)

    def bearer(self):
        if random.random() < 0.5:
            return f"Bearer {self.api_token}"
        return f"Bearer {random.choice(self.chains)['access']}"

    async def call(self, method, path, **kw):
        kw.setdefault("allow_redirects", False)
        async with self.session.request(method, self.base + path, **kw) as resp:
            body = await resp.read()
            return resp, body

    # -- operations: each returns None on success, else what went wrong --
    async def op_signin(self):
        resp, page = await self.call("GET", "/login")
        if resp.status != 200:
            return f"GET /login -> {resp.status}"
        csrf_cookie = resp.cookies.get("ward_csrf")
        m = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if not csrf_cookie or not m:
            return "GET /login: no CSRF cookie or field"
        form = {"csrf_token": m.group(1).decode(), "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD, "return_to": "/"}
        resp, body = await self.call("POST", "/login/password", data=form,
                                     headers={"Cookie": f"ward_csrf={csrf_cookie.value}"})
        session = resp.cookies.get("ward_session")
        if resp.status // 100 != 3 or not session:
            return f"POST /login/password -> {resp.status} {body[:120]!r}"
        cookie = f"ward_session={session.value}; ward_csrf={csrf_cookie.value}"
        resp, page = await self.call("GET", "/account", headers={"Cookie": cookie})
        m = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if resp.status != 200 or not m:
            return f"GET /account -> {resp.status}, csrf field {'found' if m else 'missing'}"
        resp, body = await self.call("GET", "/api/auth/validate", headers={"Cookie": cookie})
        if resp.status != 200:
            return f"validate (cookie) -> {resp.status} {body[:120]!r}"
        resp, body = await self.call("POST", "/logout", data={"csrf_token": m.group(1).decode()},
                                     headers={"Cookie": cookie})
        if resp.status // 100 != 3:
            return f"POST /logout -> {resp.status} {body[:120]!r}"
        resp, body = await self.call("GET", "/api/auth/validate", headers={"Cookie": cookie})
        if resp.status != 401:
            return f"validate after logout -> {resp.status} (expected 401)"
        return None

    async def op_refresh(self):
        free = [c for c in self.chains if not c["busy"]]
        if not free:
            return "every refresh chain busy (a rotation took longer than the chains allow)"
        chain = random.choice(free)
        chain["busy"] = True
        try:
            resp, body = await self.call(
                "POST", "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": chain["refresh"]},
                headers={"Authorization": self.basic})
            if resp.status != 200:
                return f"refresh -> {resp.status} {body[:160]!r}"
            tokens = await _json(body)
            if not tokens or "refresh_token" not in tokens or "access_token" not in tokens:
                return f"refresh: answer without tokens {body[:160]!r}"
            chain["refresh"] = tokens["refresh_token"]
            chain["access"] = tokens["access_token"]
            return None
        finally:
            chain["busy"] = False

    async def op_validate(self, token):
        resp, body = await self.call("GET", "/api/auth/validate",
                                     headers={"Authorization": f"Bearer {token}"})
        if resp.status != 200 or not resp.headers.get("X-Ward-User-Id"):
            return f"validate -> {resp.status} {body[:160]!r}"
        return None

    async def op_val_jwt(self):
        return await self.op_validate(random.choice(self.chains)["access"])

    async def op_val_api(self):
        return await self.op_validate(self.api_token)

    async def op_proxy_get(self):
        self.seq += 1
        path = f"/api/echo/item/{self.seq}"
        resp, body = await self.call("GET", path + "?q=1", headers={"Authorization": self.bearer()})
        if resp.status != 200:
            return f"proxy GET -> {resp.status} {body[:160]!r}"
        echoed = await _json(body)
        if not echoed or echoed.get("path") != path or not echoed.get("user"):
            return f"proxy GET: unexpected echo {body[:160]!r}"
        return None

    async def op_proxy_post(self):
        payload = os.urandom(random.randint(1024, 32 * 1024))
        resp, body = await self.call("POST", "/api/echo/upload", data=payload,
                                     headers={"Authorization": self.bearer(),
                                              "Content-Type": "application/octet-stream"})
        if resp.status != 200:
            return f"proxy POST -> {resp.status} {body[:160]!r}"
        if body != payload:
            return f"proxy POST: echo differs ({len(body)} bytes back for {len(payload)})"
        return None

    async def ws_connect(self, n):
        """Connects with the credential carried the n-th of four ways (docs/proxy.md)."""
        token = self.api_token if n % 2 else random.choice(self.chains)["access"]
        url = f"{self.ws_base}/ws/echo/c{n}"
        way = n % 4
        kw = {"autoping": True, "heartbeat": None, "max_msg_size": 1 << 20}
        if way == 0:
            ws = await self.session.ws_connect(url, headers={"Authorization": f"Bearer {token}"},
                                               **kw)
        elif way == 1:
            ws = await self.session.ws_connect(url, **kw)
            await ws.send_json({"type": "auth", "token": f"Bearer {token}"})
        elif way == 2:
            ws = await self.session.ws_connect(url + "?token=" + urllib.parse.quote(token), **kw)
        else:
            ws = await self.session.ws_connect(url, protocols=(f"ward.token.{token}",), **kw)
        return ws

    async def ws_echo(self, ws, text):
        await ws.send_str(text)
        msg = await asyncio.wait_for(ws.receive(), timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT or msg.data != text:
            extra = msg.extra if msg.type == aiohttp.WSMsgType.CLOSE else ""
            return f"echo: got {msg.type.name} {str(msg.data)[:80]} {extra}"
        return None

    async def op_ws_churn(self):
        self.seq += 1
        n = self.seq
        ws = await self.ws_connect(n)
        try:
            for i in range(5):
                err = await self.ws_echo(ws, f"churn {n} message {i} " + "x" * random.randint(0, 2000))
                if err:
                    return f"ws (way {n % 4}) {err}"
        finally:
            await ws.close()
        if ws.close_code not in (1000, None):
            return f"ws (way {n % 4}) closed with {ws.close_code}"
        return None

    async def ws_long(self, idx):
        """One connection for the whole run; reconnects (counting an error) if it drops."""
        n = idx
        while not self.stopping:
            try:
                ws = await self.ws_connect(n)
            except Exception as e:  # noqa: BLE001 - every failure is counted and printed
                self.fail("ws_long", f"connect: {type(e).__name__}: {e}")
                await asyncio.sleep(2)
                continue
            try:
                i = 0
                while not self.stopping:
                    started = time.monotonic()
                    err = await self.ws_echo(ws, f"long {idx} message {i}")
                    if err:
                        self.fail("ws_long", err)
                        break
                    self.ok("ws_long", started)
                    i += 1
                    await asyncio.sleep(2)
            except Exception as e:  # noqa: BLE001
                self.fail("ws_long", f"{type(e).__name__}: {e}")
            finally:
                await ws.close()
            n += 4  # the same way of authenticating on a reconnect

    async def run_op(self, kind, sem):
        started = time.monotonic()
        try:
            err = await asyncio.wait_for(getattr(self, f"op_{kind}")(), timeout=30)
        except Exception as e:  # noqa: BLE001 - every failure is counted and printed
            err = f"{type(e).__name__}: {e}"
        finally:
            sem.release()
        if err:
            self.fail(kind, err)
        else:
            self.ok(kind, started)

    async def pace(self, kind, rate, until):
        """Starts `kind` at `rate` per second until `until`, at most 32 in flight."""
        interval = 1.0 / rate
        sem = asyncio.Semaphore(32)
        tasks = set()
        nxt = time.monotonic() + random.random() * interval
        while True:
            now = time.monotonic()
            if nxt >= until:
                break
            if nxt > now:
                await asyncio.sleep(nxt - now)
            nxt += interval
            if sem.locked():
                self.fail(kind, "32 requests in flight: ward is not keeping up")
                continue
            await sem.acquire()
            t = asyncio.create_task(self.run_op(kind, sem))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def gauges(self):
        """What ward holds that grows with use, from /metrics: database connections open and the
        access tokens remembered as verified (-1 when unreadable)."""
        found = {"db_open": -1, "verified": -1}
        names = {'ward_db_connections{state="open"}': "db_open",
                 "ward_verified_access_tokens": "verified"}
        try:
            async with self.session.get(self.base + "/metrics") as resp:
                for line in (await resp.text()).splitlines():
                    name, _, value = line.rpartition(" ")
                    if name in names:
                        found[names[name]] = int(float(value))
        except (aiohttp.ClientError, ValueError):
            pass
        return found

    async def sampler(self, pid, samples, t0, until):
        while True:
            s = proc_sample(pid)
            s["t"] = time.monotonic() - t0
            s["driver_cpu"] = self_cpu()
            s.update(await self.gauges())
            samples.append(s)
            if self.args.verbose:
                print(f"soak: t={s['t']:6.0f}s rss={s['rss'] / 1024:.1f} MB fds={s['fds']} "
                      f"threads={s['threads']} db_open={s['db_open']} "
                      f"verified={s['verified']} " + " ".join(
                          f"{k}={self.counts[k]}" for k in KINDS), file=sys.stderr, flush=True)
            if time.monotonic() + self.args.sample > until + 0.5:
                break
            await asyncio.sleep(self.args.sample)

    async def run(self, pid):
        conn = aiohttp.TCPConnector(limit=256, force_close=False)
        self.session = aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar(),
                                             timeout=aiohttp.ClientTimeout(total=30))
        samples = []
        t0 = time.monotonic()
        until = t0 + self.args.duration
        try:
            longs = [asyncio.create_task(self.ws_long(i)) for i in range(self.args.ws_long)]
            paced = [self.pace(k, r * self.args.rate, until) for k, r in RATES.items() if r > 0]
            await asyncio.gather(self.sampler(pid, samples, t0, until), *paced)
            self.stopping = True
            await asyncio.gather(*longs)
        finally:
            await self.session.close()
        return samples


async def _json(body):
    import json
    try:
        return json.loads(body)
    except ValueError:
        return None


# --- orchestration -----------------------------------------------------------------------

def wait_ready(url, proc, seconds=60):
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"soak: {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"soak: {url} not ready")


def write_config(path, args, work, backend_port):
    upstream = f"http://127.0.0.1:{backend_port}"
    with open(path, "w") as f:
        f.write(setup.config(args.port, f"{work}/ward-data", args.database_url,
                             routes=[f"/api/echo={upstream}"], ws_routes=[f"/ws/echo={upstream}"]))


def fmt_mb(kb):
    return f"{kb / 1024:.1f}"


def report(args, soak, rest, samples, after, backend_stats, elapsed):
    warm = [s for s in samples if s["t"] >= args.warmup]
    rss = [s["rss"] for s in warm]
    print()
    print(f"ward soak on {args.backend_name}: {elapsed / 60:.1f} min of load, warm-up "
          f"{args.warmup:.0f} s, rate x{args.rate:g}, RSS sampled every {args.sample:g} s, "
          f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| kind | requests | errors | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in KINDS:
        lat = sorted(soak.latency[k])
        p50 = f"{lat[len(lat) // 2] * 1000:.1f}" if lat else ""
        p99 = f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.1f}" if lat else ""
        print(f"| {k} | {soak.counts[k]} | {soak.errors[k]} | {soak.counts[k] / elapsed:.1f} | "
              f"{p50} | {p99} |")
    total = sum(soak.counts.values())
    errors = sum(soak.errors.values())
    print(f"| **all** | {total} | {errors} | {total / elapsed:.1f} | | |")
    print()
    ok_rss = bool(rss)
    if rss:
        med = statistics.median(rss)
        dev = max(abs(x - med) for x in rss) / med * 100
        ok_rss = dev <= args.tolerance
        first = warm[0]
        last = warm[-1]
        cpu = (last["cpu"] - samples[0]["cpu"]) / max(last["t"] - samples[0]["t"], 1e-9) * 100
        dcpu = (last["driver_cpu"] - samples[0]["driver_cpu"]) / max(
            last["t"] - samples[0]["t"], 1e-9) * 100
    print("| measure | value |")
    print("|---|---:|")
    print(f"| RSS at rest before load (MB) | {fmt_mb(rest['rss'])} |")
    if rss:
        print(f"| RSS after warm-up (MB) | {fmt_mb(first['rss'])} |")
        print(f"| RSS after warm-up: min / median / max / last (MB) | {fmt_mb(min(rss))} / "
              f"{fmt_mb(med)} / {fmt_mb(max(rss))} / {fmt_mb(last['rss'])} |")
        print(f"| max deviation from the post-warm-up median | {dev:.1f} % |")
        print(f"| RSS {args.settle:.0f} s after the load stopped (MB) | {fmt_mb(after['rss'])} |")
        print(f"| open fds: at rest / after warm-up / max / {args.settle:.0f} s after | "
              f"{rest['fds']} / {first['fds']} / {max(s['fds'] for s in warm)} / {after['fds']} |")
        print(f"| threads: at rest / max / after | {rest['threads']} / "
              f"{max(s['threads'] for s in warm)} / {after['threads']} |")
        print(f"| ward CPU during the load (% of one core) | {cpu:.0f} |")
        print(f"| driver CPU during the load (% of one core) | {dcpu:.0f} |")
    print(f"| backend: WebSockets still open after the load / opened in all | "
          f"{backend_stats.get('ws_open', '?')} / {backend_stats.get('ws_total', '?')} |")
    print()
    if soak.error_kinds:
        print("Errors (kind: what, count):")
        for (kind, what), n in sorted(soak.error_kinds.items(), key=lambda x: -x[1]):
            print(f"  {kind}: {what} (x{n})")
        print()
    print("RSS samples after warm-up (MB): " + " ".join(fmt_mb(x) for x in rss))
    print("Database connections open, same samples: " + " ".join(str(s["db_open"]) for s in warm))
    print("Access tokens remembered as verified, same samples: "
          + " ".join(str(s["verified"]) for s in warm))
    print()
    leaked_ws = backend_stats.get("ws_open", 0) != 0
    passed = ok_rss and errors == 0 and not leaked_ws
    why = []
    if not ok_rss:
        why.append(f"RSS deviates {dev:.1f} % > {args.tolerance:g} %" if rss else "no samples")
    if errors:
        why.append(f"{errors} errors")
    if leaked_ws:
        why.append("WebSockets left open upstream")
    print(f"**{'PASS' if passed else 'FAIL'}** (RSS within {args.tolerance:g} % of the "
          f"post-warm-up median, no error{'' if passed else ': ' + '; '.join(why)})")
    return passed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--database-url", default="")
    p.add_argument("--backend-name", default="SQLite")
    p.add_argument("--duration", type=float, default=1200, help="seconds of load")
    p.add_argument("--warmup", type=float, default=180)
    p.add_argument("--sample", type=float, default=10)
    p.add_argument("--settle", type=float, default=15, help="seconds after the load")
    p.add_argument("--rate", type=float, default=1.0, help="multiplies every rate")
    p.add_argument("--mix", default="", help="KIND=RATE,... overrides (per second at --rate 1)")
    p.add_argument("--chains", type=int, default=8)
    p.add_argument("--ws-long", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=10.0)
    p.add_argument("--port", type=int, default=18090)
    p.add_argument("--backend-port", type=int, default=18091)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    for item in filter(None, args.mix.split(",")):
        kind, _, rate = item.partition("=")
        if kind not in RATES:
            p.error(f"--mix: {kind} is not one of {', '.join(RATES)}")
        RATES[kind] = float(rate)

    work = tempfile.mkdtemp(prefix="ward-soak.")
    procs = []
    try:
        be = subprocess.Popen([sys.executable, os.path.abspath(__file__), "backend",
                               str(args.backend_port)])
        procs.append(be)
        wait_ready(f"http://127.0.0.1:{args.backend_port}/stats", be)
        write_config(f"{work}/ward.toml", args, work, args.backend_port)
        log = open(f"{work}/ward.log", "w")
        env = {**os.environ, "WARD_LOG": os.environ.get("WARD_LOG", "warn")}
        ward = subprocess.Popen([args.bin, "server", "--config", f"{work}/ward.toml"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append(ward)
        wait_ready(f"http://127.0.0.1:{args.port}/readyz", ward)
        os.makedirs(f"{work}/creds")
        setup.ward(args.port, f"{work}/creds", args.chains, ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT,
                   SECRET)
        creds = {name: open(f"{work}/creds/{name}").read().strip()
                 for name in ("api_token", "access_token")}
        creds["refresh_tokens"] = open(f"{work}/creds/refresh_tokens").read().split()
        time.sleep(2)
        rest = proc_sample(ward.pid)
        print(f"soak: ward pid {ward.pid} at rest: RSS {fmt_mb(rest['rss'])} MB, "
              f"{rest['fds']} fds; {args.duration:.0f} s of load from now", file=sys.stderr,
              flush=True)
        soak = Soak(args, creds)
        started = time.monotonic()
        samples = asyncio.run(soak.run(ward.pid))
        elapsed = time.monotonic() - started
        time.sleep(args.settle)
        after = proc_sample(ward.pid)
        import json
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{args.backend_port}/stats") as r:
            backend_stats = json.loads(r.read())
        if ward.poll() is not None:
            print(f"soak: ward exited with {ward.returncode}", file=sys.stderr)
            return 1
        passed = report(args, soak, rest, samples, after, backend_stats, elapsed)
        log_lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in open(f"{work}/ward.log")]
        bad = [line for line in log_lines if "ERROR" in line or "panicked" in line]
        warns = [line for line in log_lines if "WARN" in line]
        print(f"ward's log: {len(bad)} ERROR lines, {len(warns)} WARN lines")
        for line in (bad + warns)[:5]:
            print(f"  {line.strip()[:300]}")
        if bad:
            passed = False
        return 0 if passed else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"soak: work directory kept: {work}", file=sys.stderr)
        else:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "backend":
        backend(int(sys.argv[2]))
    else:
        sys.exit(main())
