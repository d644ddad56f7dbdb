#!/usr/bin/env python3
"""bench/io_load.py: runs one side of an io benchmark against the other, each pinned to its own CPU
(or, serve --shared, both to both CPUs).

    io_load.py serve --bench http_hello --impl tendril -- SERVER_ARGV... {port}
    io_load.py serve --shared --bench http_hello_2t --impl tendril -- SERVER_ARGV... {port} 2
    io_load.py nginx --impl tendril -- CLIENT_ARGV... {url}
    io_load.py dnsmasq --impl tendril -- CLIENT_ARGV... {server}
    io_load.py postgres --impl tendril -- CLIENT_ARGV... {conninfo} {connections}
    io_load.py site --server CRAWLER --impl tendril [--summary] -- CLIENT_ARGV... {url} {fibers}

bench/run starts it pinned to two CPUs (taskset -c 0,1); it puts the server
on the first and the load on the second:

serve    starts SERVER_ARGV ("{port}" replaced by a free port on 127.0.0.1)
         on the first CPU, waits until it accepts connections, loads it with
         `wrk -t1 -c100` (keep-alive) on the second CPU for a 1 s warm-up and
         then for the measured run (3 s, times TENDRIL_BENCH_SCALE), reads
         the server's CPU time (utime + stime in /proc/PID/stat) before and
         after the measured run, stops it with SIGTERM, and prints
             result bench=BENCH impl=IMPL value=<requests per server CPU-second> unit=req/cpu-s
             result bench=BENCH_rps impl=IMPL value=<requests per second> unit=req/s
         with cpu= the server's CPU time / wall time (below 1 when wrk, not
         the server, was the bottleneck).
         With --shared, for a server of two threads: the server and wrk both
         run on the first and the second CPU (taskset -c A,B each), wrk with
         a thread per CPU (`wrk -t2 -c100`), and the scheduler shares the two
         CPUs among them; the same two lines, with cpu= the server's CPU time
         / (wall time x 2). How the server's CPU time divided among its
         threads goes to stderr: a thread that got few of the connections
         (the kernel spreads them over SO_REUSEPORT listeners by a hash)
         shows there.
nginx    starts nginx-light (one worker) on the first CPU serving a 2048-byte
         file at /page, runs CLIENT_ARGV ("{url}" replaced by its URL) on the
         second CPU, passes the client's result lines through, and prints
         `result bench=http_get_connects impl=IMPL`: the TCP connections
         opened while the client ran (ActiveOpens in /proc/net/snmp,
         system-wide), a check on connection reuse: 1100 at best for the
         warm-ups and cases of 100 and 1000.
dnsmasq  starts dnsmasq on the first CPU serving the names h0.bench.test ..
         h999.bench.test (A records 10.0.X.Y), runs CLIENT_ARGV ("{server}"
         replaced by "127.0.0.1:PORT") on the second CPU, passes its result
         lines through, and prints `result bench=dns_udp_drops impl=IMPL`:
         the datagrams the kernel dropped for a full receive buffer
         (RcvbufErrors in /proc/net/snmp) while the client ran: a dropped
         query or answer costs its lookup c-ares's retry timeout (5 s), so
         any drop spoils the run. net.core.rmem_default is raised to 8 MiB
         while dnsmasq and the client run (root only; restored after), so
         that 1000 queries, and their 1000 answers, in flight fit in the
         receive buffers of dnsmasq's socket and of the resolver's; see
         bench/README.md.
postgres starts a throwaway PostgreSQL on the first CPU (initdb in a
         temporary directory; as root, initdb and the server run as Debian's
         `postgres` user through setpriv, as tests/support/postgres.hpp does;
         fsync off, max_connections 1100, trust authentication for the role
         `tendril`), then runs CLIENT_ARGV on the second CPU once per count in
         --connections (default 10,100,1000), each time in a fresh process,
         "{conninfo}" replaced by a libpq connection string for TCP on
         127.0.0.1 and "{connections}" by the count, and passes the client's
         result lines through. One server serves the three runs; it is
         stopped with a fast shutdown (SIGINT) at the end.
site     starts CRAWLER --serve 0 --site-pages P (examples/crawler serving
         its built-in site, P = 20,000 times TENDRIL_BENCH_SCALE, at least
         100) on the first CPU and reads the URL it prints once it listens;
         then runs CLIENT_ARGV, a crawler of that site, on the second CPU
         once per count in --fibers (default 100,1000), each time in a fresh
         process, "{url}" replaced by the URL and "{fibers}" by the count.
         The client prints `result bench=crawl_cN impl=IMPL value=<pages/s>
         unit=pages/s n=<pages>`; with --summary it is tendril's crawler,
         and its summary line ("summary: P pages, ... (R pages/s)") is made
         into that line. Every client must fetch P + 5 pages (the generated
         ones and the five /private/ pages, which a crawler that does not
         read robots.txt fetches too) and exit 0. For each run it also
         prints `crawl_cN_cpu` (the client process's CPU-seconds per 10,000
         pages, from wait4: all of the process, start-up included) and
         `crawl_cN_site` (the site server's CPU time / the crawl's wall
         time: near 1, the site, not the client, set the pace). SIGTERM
         stops the site at the end.

The clients measure themselves (wall time and their process's CPU time
around the timed GETs or lookups). Exits non-zero when a side fails to
start, wrk reports errors, or the client fails.
"""

import argparse
import os
import pwd
import resource
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_TIMEOUT = 20.0  # seconds a server has to start answering
PAGE_BYTES = 2048
DNS_NAMES = 1000
DNS_RCVBUF = 8 << 20  # net.core.rmem_default while dnsmasq makes its sockets
RMEM_DEFAULT = Path("/proc/sys/net/core/rmem_default")


def log(message):
    print(f"io_load: {message}", file=sys.stderr, flush=True)


def fail(message):
    sys.exit(f"io_load: {message}")


def cpus():
    """(server CPU, load CPU): the first two CPUs this process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        fail(f"needs two CPUs, got {allowed} (bench/run pins io programs with taskset -c 0,1)")
    return allowed[0], allowed[1]


def pinned(cpus, argv):
    """argv under `taskset -c cpus`: one CPU (an int) or a list of them ("0,1")."""
    return ["taskset", "-c", str(cpus)] + [str(a) for a in argv]


def free_port(udp_too=False):
    """A TCP port free on 127.0.0.1 a moment ago (and free for UDP too, for dnsmasq, which binds both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


def scale():
    try:
        return float(os.environ.get("TENDRIL_BENCH_SCALE", "1"))
    except ValueError:
        return 1.0


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(process, ready, what):
    """Polls ready() until it is true; fails when `process` exits or READY_TIMEOUT passes."""
    give_up = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < give_up:
        if process.poll() is not None:
            fail(f"{what} exited with status {process.returncode} before answering")
        if ready():
            return
        time.sleep(0.01)
    fail(f"{what} did not answer within {READY_TIMEOUT:.0f} s")


def stop(process, what, expect_clean=False):
    """SIGTERM, then SIGKILL after 5 s. With expect_clean, a non-zero exit (other than SIGTERM's) fails."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            fail(f"{what} did not stop within 5 s of SIGTERM")
    if expect_clean and process.returncode not in (0, -signal.SIGTERM):
        fail(f"{what} exited with status {process.returncode}")


def cpu_seconds(pid, stat="stat"):
    """utime + stime of process `pid` (all its threads), in seconds, from /proc/PID/stat; with
    stat="task/TID/stat", of its thread TID alone."""
    fields = Path(f"/proc/{pid}/{stat}").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15 of stat


def thread_cpu_seconds(pid):
    """{thread id: utime + stime in seconds} for every thread of process `pid`."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            times[task.name] = cpu_seconds(pid, f"task/{task.name}/stat")
        except OSError:
            pass  # the thread ended
    return times


def result(bench, impl, value, unit, n, cpu):
    print(f"result bench={bench} impl={impl} value={value:.3f} unit={unit} n={n} cpu={min(cpu, 1.0):.2f}",
          flush=True)


# ---- serve: an HTTP server under wrk --------------------------------------

def run_wrk(cpus, port, seconds, threads=1):
    """Runs wrk for `seconds`; returns (requests, duration in seconds). Fails on any error it reports."""
    argv = pinned(cpus, ["wrk", f"-t{threads}", "-c100", f"-d{seconds}s", f"http://127.0.0.1:{port}/"])
    done = subprocess.run(argv, capture_output=True, text=True)
    out = done.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if done.returncode != 0 or m is None:
        fail(f"wrk failed (status {done.returncode}):\n{out}{done.stderr}")
    errors = re.search(r"Socket errors: (.*)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or non_2xx:
        fail(f"wrk saw errors:\n{out}")
    duration = float(m[2]) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m[3]]
    return int(m[1]), duration


def serve(args):
    server_cpu, load_cpu = cpus()
    wrk_threads, server_cpus = 1, 1
    if args.shared:
        server_cpu = load_cpu = f"{server_cpu},{load_cpu}"
        wrk_threads, server_cpus = 2, 2
    seconds = max(1, round(3 * scale()))
    for attempt in range(5):
        port = free_port()
        argv = [a.replace("{port}", str(port)) for a in args.argv]
        # The server's stdout is not ours: only result lines belong there.
        server = subprocess.Popen(pinned(server_cpu, argv), stdout=sys.stderr)
        try:
            wait_until(server, lambda: accepts(port), args.impl)
        except SystemExit:
            stop(server, args.impl)
            if attempt == 4:
                raise
            continue  # another process may have taken the port
        break
    try:
        run_wrk(load_cpu, port, 1, wrk_threads)  # warm-up: the interpreter, Go's runtime, caches
        threads_before = thread_cpu_seconds(server.pid)
        before, start = cpu_seconds(server.pid), time.monotonic()
        requests, duration = run_wrk(load_cpu, port, seconds, wrk_threads)
        wall = time.monotonic() - start
        used = cpu_seconds(server.pid) - before
        threads_used = {tid: t - threads_before.get(tid, 0.0) for tid, t in thread_cpu_seconds(server.pid).items()}
    finally:
        stop(server, args.impl, expect_clean=True)
    if used <= 0:
        fail(f"{args.impl} used no CPU time while serving {requests} requests")
    if args.shared:
        busy = sorted((t for t in threads_used.values() if t >= 0.01), reverse=True)
        log(f"{args.impl}: {used:.2f} server CPU-s in {wall:.2f} s; by thread, those above 0.01 "
            f"({len(busy)} of {len(threads_used)}): {', '.join(f'{t:.2f}' for t in busy)}")
    share = used / (wall * server_cpus)
    result(args.bench, args.impl, requests / used, "req/cpu-s", requests, share)
    result(f"{args.bench}_rps", args.impl, requests / duration, "req/s", requests, share)


# ---- nginx: a 2 KB page for the HTTP clients ------------------------------

NGINX_CONF = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  open_file_cache max=16;
  sendfile on;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {dir}/www;
  }}
}}
"""


def snmp(protocol, counter):
    """A counter of /proc/net/snmp: `protocol` "Udp" or "Tcp", `counter` a name on its header line."""
    lines = Path("/proc/net/snmp").read_text().splitlines()
    head, values = (line.split() for line in lines if line.startswith(protocol + ":"))
    return int(values[head.index(counter)])


def nginx(args):
    server_cpu, client_cpu = cpus()
    with tempfile.TemporaryDirectory(prefix="tendril-bench-nginx-") as dir:
        os.mkdir(f"{dir}/www")
        # Printable bytes, so a client that decodes the body as text does no extra work.
        page = (b"0123456789abcdef" * (PAGE_BYTES // 16))[:PAGE_BYTES]
        Path(f"{dir}/www/page").write_bytes(page)
        for attempt in range(5):
            port = free_port()
            conf = NGINX_CONF.format(user="user root;\n" if os.geteuid() == 0 else "", dir=dir, port=port)
            Path(f"{dir}/nginx.conf").write_text(conf)
            argv = ["/usr/sbin/nginx", "-p", dir, "-c", f"{dir}/nginx.conf", "-e", f"{dir}/error.log",
                    "-g", "daemon off;"]
            server = subprocess.Popen(pinned(server_cpu, argv), stdout=sys.stderr, stderr=sys.stderr)
            try:
                wait_until(server, lambda: accepts(port), "nginx")
                break
            except SystemExit:
                stop(server, "nginx")
                if attempt == 4:
                    log(Path(f"{dir}/error.log").read_text())
                    raise
        try:
            url = f"http://127.0.0.1:{port}/page"
            argv = [a.replace("{url}", url) for a in args.argv]
            connects = snmp("Tcp", "ActiveOpens")
            status = subprocess.run(pinned(client_cpu, argv)).returncode
            connects = snmp("Tcp", "ActiveOpens") - connects
        finally:
            stop(server, "nginx")
        if status != 0:
            fail(f"{args.argv[0]} exited with status {status}")
        result("http_get_connects", args.impl, connects, "connections", connects, 1.0)


# ---- dnsmasq: a zone of 1000 names for the resolvers ----------------------

def dns_query(name, qid=0x7E57):
    """A DNS query for `name`, type A, class IN, recursion desired."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return qid.to_bytes(2, "big") + b"\1\0\0\1\0\0\0\0\0\0" + labels + b"\0\1\0\1"


def answers(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        try:
            s.sendto(dns_query("h0.bench.test"), ("127.0.0.1", port))
            reply = s.recv(512)
        except OSError:
            return False
    return len(reply) >= 12 and reply[:2] == b"\x7e\x57" and reply[3] & 0x0F == 0


class raised_rmem_default:
    """Raises net.core.rmem_default while dnsmasq and the client run (a socket's receive buffer is sized
    when the socket is made), and restores it. Without root it changes nothing, and says so."""

    def __enter__(self):
        self.saved = None
        try:
            self.saved = RMEM_DEFAULT.read_text().strip()
            if int(self.saved) < DNS_RCVBUF:
                RMEM_DEFAULT.write_text(str(DNS_RCVBUF))
        except OSError as e:
            log(f"cannot raise {RMEM_DEFAULT} ({e.strerror}): dnsmasq keeps the default receive buffer")
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            RMEM_DEFAULT.write_text(self.saved)


def server_drops(port):
    """Datagrams dropped at dnsmasq's UDP socket (127.0.0.1:port), from the drops column of /proc/net/udp."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:
            return int(fields[-1])
    return 0


def dnsmasq(args):
    server_cpu, client_cpu = cpus()
    with tempfile.TemporaryDirectory(prefix="tendril-bench-dnsmasq-") as dir, raised_rmem_default():
        records = [f"host-record=h{i}.bench.test,10.0.{i // 256}.{i % 256}\n" for i in range(DNS_NAMES)]
        Path(f"{dir}/dnsmasq.conf").write_text("".join(records))
        for attempt in range(5):
            port = free_port(udp_too=True)
            argv = ["/usr/sbin/dnsmasq", "--keep-in-foreground", f"--conf-file={dir}/dnsmasq.conf",
                    f"--pid-file={dir}/dnsmasq.pid", f"--port={port}", "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/#/", "--cache-size=0"]
            if os.geteuid() == 0:
                argv += ["--user=root", "--group=root"]
            server = subprocess.Popen(pinned(server_cpu, argv), stdout=sys.stderr, stderr=sys.stderr)
            try:
                wait_until(server, lambda: answers(port), "dnsmasq")
                break
            except SystemExit:
                stop(server, "dnsmasq")
                if attempt == 4:
                    raise
        try:
            argv = [a.replace("{server}", f"127.0.0.1:{port}") for a in args.argv]
            drops, at_server = snmp("Udp", "RcvbufErrors"), server_drops(port)
            status = subprocess.run(pinned(client_cpu, argv)).returncode
            drops, at_server = snmp("Udp", "RcvbufErrors") - drops, server_drops(port) - at_server
        finally:
            stop(server, "dnsmasq")
    if status != 0:
        fail(f"{args.argv[0]} exited with status {status}")
    if drops:
        log(f"{drops} UDP datagrams were dropped for a full receive buffer during the {args.impl} run, "
            f"{at_server} of them at dnsmasq's socket, the others (queries' answers) at the client's")
    result("dns_udp_drops", args.impl, drops, "datagrams", drops, 1.0)


# ---- postgres: a throwaway server for the libpq clients -------------------

PG_MAX_CONNECTIONS = 1100  # the largest client opens 1000, plus its first one, plus slack
PG_USER = "tendril"


def postgres_bin():
    """The newest /usr/lib/postgresql/<major>/bin with a postgres in it (15 in Debian 12)."""
    found = [(int(d.name), d / "bin") for d in Path("/usr/lib/postgresql").glob("*")
             if d.name.isdigit() and os.access(d / "bin" / "postgres", os.X_OK)]
    if not found:
        fail("no /usr/lib/postgresql/<major>/bin/postgres: install Debian's postgresql package")
    return max(found)[1]


def as_postgres_user(dir):
    """The command prefix that runs a program as the server's user. PostgreSQL refuses to run as root:
    as root, the `postgres` user gets `dir` and runs the server through setpriv, which changes user and
    execs, so the spawned pid is the postmaster itself and SIGINT reaches it unchanged (runuser would stay
    in between and turn it into a SIGTERM). Not root: nothing to change."""
    if os.geteuid() != 0:
        return []
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        fail("as root, PostgreSQL runs as the `postgres` user, and there is none (Debian's postgresql makes it)")
    os.chown(dir, account.pw_uid, account.pw_gid)
    return ["/usr/bin/setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "--"]


def postgres_ready(bin_dir, dir, port):
    """The server says "ready" on the eighth line of postmaster.pid (as pg_ctl -w waits for), and
    pg_isready connects over TCP: an open port alone may still answer "the database system is starting up",
    or be another server's."""
    try:
        lines = Path(f"{dir}/data/postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    if len(lines) < 8 or not lines[7].startswith("ready"):
        return False
    probe = [bin_dir / "pg_isready", "--quiet", "--host=127.0.0.1", f"--port={port}", f"--username={PG_USER}",
             "--dbname=postgres", "--timeout=5"]
    return subprocess.run([str(a) for a in probe]).returncode == 0


def stop_postgres(server):
    """A fast shutdown (SIGINT: end the sessions, exit after every backend), an immediate one (SIGQUIT) if
    that takes over 10 s."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGQUIT)
        server.wait()


def raise_fd_limit():
    """The soft limit on open files up to the hard one, for the clients (1000 sockets and more) to inherit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def postgres(args):
    server_cpu, client_cpu = cpus()
    counts = [int(c) for c in args.connections.split(",")]
    bin_dir = postgres_bin()
    with tempfile.TemporaryDirectory(prefix="tendril-bench-postgres-") as dir:
        as_user = as_postgres_user(dir)
        log_path = Path(f"{dir}/postgres.log")
        with log_path.open("w") as server_log:
            initdb = as_user + [bin_dir / "initdb", f"--pgdata={dir}/data", f"--username={PG_USER}", "--auth=trust",
                                "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
            if subprocess.run([str(a) for a in initdb], stdout=server_log, stderr=server_log).returncode != 0:
                fail(f"initdb failed:\n{log_path.read_text()}")
        for attempt in range(5):
            port = free_port()
            # Nothing here outlives a crash (fsync, synchronous_commit and full_page_writes off), and nothing
            # runs that a client did not ask for (autovacuum, JIT, WAL senders).
            argv = as_user + [bin_dir / "postgres", "-D", f"{dir}/data", "-h", "127.0.0.1", "-p", str(port),
                              "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
                              "-c", "full_page_writes=off", "-c", f"max_connections={PG_MAX_CONNECTIONS}",
                              "-c", "huge_pages=off", "-c", "autovacuum=off", "-c", "jit=off",
                              "-c", "wal_level=minimal", "-c", "max_wal_senders=0"]
            with log_path.open("a") as server_log:
                server = subprocess.Popen(pinned(server_cpu, argv), stdout=server_log, stderr=server_log)
            try:
                wait_until(server, lambda: postgres_ready(bin_dir, dir, port), "postgres")
                break
            except SystemExit:
                stop_postgres(server)
                if attempt == 4:
                    log(log_path.read_text())
                    raise
        try:
            raise_fd_limit()
            conninfo = (f"host=127.0.0.1 port={port} user={PG_USER} dbname=postgres sslmode=disable "
                        "gssencmode=disable")
            for count in counts:
                argv = [a.replace("{conninfo}", conninfo).replace("{connections}", str(count)) for a in args.argv]
                status = subprocess.run(pinned(client_cpu, argv)).returncode
                if status != 0:
                    fail(f"{args.argv[0]} with {count} connections exited with status {status}")
        finally:
            stop_postgres(server)


# ---- site: the crawler's built-in site for the crawlers -------------------

SITE_PAGES = 20000
SITE_PRIVATE_PAGES = 5  # crawler::site::private_pages: linked, disallowed by robots.txt only
SUMMARY = re.compile(r"^summary: (\d+) pages, .* \(([\d.]+) pages/s\)$", re.M)


def start_site(server_cpu, argv):
    """Starts the site server; returns (process, URL) once it has printed the URL it listens on."""
    server = subprocess.Popen(pinned(server_cpu, argv), stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([server.stdout], [], [], READY_TIMEOUT)
    url = server.stdout.readline().strip() if ready else ""
    if not url.startswith("http://"):
        stop(server, "the site")
        fail(f"the site ({' '.join(map(str, argv))}) printed no URL within {READY_TIMEOUT:.0f} s")
    return server, url


def crawl_once(args, client_cpu, argv, pages, fibers):
    """Runs one crawler; returns its result line as a dict of fields, and its CPU-seconds."""
    client = subprocess.Popen(pinned(client_cpu, argv), stdout=subprocess.PIPE, text=True)
    out = client.stdout.read()
    _, status, usage = os.wait4(client.pid, 0)
    client.returncode = os.waitstatus_to_exitcode(status)
    if client.returncode != 0:
        fail(f"{args.argv[0]} with {fibers} fibers exited with status {client.returncode}:\n{out}")
    if args.summary:
        m = SUMMARY.search(out)
        if m is None:
            fail(f"{args.argv[0]} printed no summary line:\n{out}")
        line = {"value": m[2], "n": m[1], "cpu": None}
    else:
        lines = [dict(field.split("=", 1) for field in text.split()[1:])
                 for text in out.splitlines() if text.startswith("result ")]
        if len(lines) != 1:
            fail(f"{args.argv[0]} printed {len(lines)} result lines, not 1:\n{out}")
        line = lines[0]
    if int(line["n"]) != pages:
        fail(f"{args.impl} with {fibers} fibers fetched {line['n']} pages, not {pages}")
    return line, usage.ru_utime + usage.ru_stime


def site(args):
    server_cpu, client_cpu = cpus()
    raise_fd_limit()  # 1000 connections, at both ends
    site_pages = max(100, round(SITE_PAGES * scale()))
    pages = site_pages + SITE_PRIVATE_PAGES
    server, url = start_site(server_cpu, [args.server, "--serve", "0", "--site-pages", site_pages])
    try:
        for fibers in (int(c) for c in args.fibers.split(",")):
            argv = [a.replace("{url}", url).replace("{fibers}", str(fibers)) for a in args.argv]
            server_before = cpu_seconds(server.pid)
            line, client_used = crawl_once(args, client_cpu, argv, pages, fibers)
            wall = pages / float(line["value"])
            server_used = cpu_seconds(server.pid) - server_before
            share = float(line["cpu"]) if line["cpu"] is not None else client_used / wall
            bench = f"crawl_c{fibers}"
            result(bench, args.impl, float(line["value"]), "pages/s", pages, share)
            result(f"{bench}_cpu", args.impl, client_used * 10000 / pages, "cpu-s/10k", pages, share)
            result(f"{bench}_site", args.impl, server_used / wall, "share", pages, 1.0)
    finally:
        stop(server, "the site", expect_clean=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    s = modes.add_parser("serve", help="an HTTP server under wrk")
    s.add_argument("--bench", required=True)
    s.add_argument("--impl", required=True)
    s.add_argument("--shared", action="store_true",
                   help="server and wrk -t2 both on both CPUs (for a server of two threads)")
    n = modes.add_parser("nginx", help="an HTTP client against nginx")
    n.add_argument("--impl", required=True)
    d = modes.add_parser("dnsmasq", help="a resolver against dnsmasq")
    d.add_argument("--impl", required=True)
    p = modes.add_parser("postgres", help="a libpq client against PostgreSQL")
    p.add_argument("--impl", required=True)
    p.add_argument("--connections", default="10,100,1000",
                   help="comma-separated connection counts, one client run each (default 10,100,1000)")
    c = modes.add_parser("site", help="a crawler of the crawler's built-in site")
    c.add_argument("--server", required=True, help="the crawler program, run with --serve")
    c.add_argument("--impl", required=True)
    c.add_argument("--summary", action="store_true",
                   help="the client is tendril's crawler: read its summary line")
    c.add_argument("--fibers", default="100,1000",
                   help="comma-separated worker counts, one client run each (default 100,1000)")
    for m in (s, n, d, p, c):
        m.add_argument("argv", nargs="+", help="the program under test, after --")
    args = parser.parse_args()
    for tool in ("taskset", "wrk") if args.mode == "serve" else ("taskset",):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed")
    {"serve": serve, "nginx": nginx, "dnsmasq": dnsmasq, "postgres": postgres, "site": site}[args.mode](args)


if __name__ == "__main__":
    main()
