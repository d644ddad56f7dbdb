"""gevent_hello_server: gevent's StreamServer as a peer of tendril's HTTP hello
server (examples/http_hello.cpp, loaded by bench/io_load.py serve).

    gevent_hello_server.py PORT    serves 127.0.0.1:PORT until SIGTERM

gevent.server.StreamServer spawns a greenlet per connection, as tendril's
stream_server spawns a task; the handler reads, answers every request that
the bytes read complete (everything up to an empty line: wrk's GETs have no
body) with the bytes tendril's http::server sends, and reads again. No HTTP
parser, as in the C peers: gevent.pywsgi, which parses and builds a WSGI
environ per request, would measure gevent's WSGI layer instead (several
times slower).
"""

import sys

from gevent.server import StreamServer

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, world!\n"
END = b"\r\n\r\n"


def handle(sock, address):
    try:
        serve(sock)
    except ConnectionResetError:
        pass  # wrk resets its connections when it stops


def serve(sock):
    pending = b""
    while True:
        data = sock.recv(16384)
        if not data:
            return
        pending += data
        requests = pending.count(END)
        if requests:
            pending = pending[pending.rindex(END) + len(END):]
            sock.sendall(RESPONSE * requests)
        elif len(pending) > 16384:
            return  # a request header over 16 KiB: not a client of this benchmark


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gevent_hello_server.py PORT")
    # SIGTERM (bench/io_load.py's stop) ends the process: nothing to clean up.
    StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=1024).serve_forever()


if __name__ == "__main__":
    main()
