"""A webhook dispatcher fans events out to 16 receivers from 8 handler threads.

All handlers share one urllib3.PoolManager(num_pools=4).  With more receivers
(origins) than pools, PoolManager evicts the least recently used
HTTPConnectionPool from its RecentlyUsedContainer and its dispose function
closes that pool at once -- even when another handler has just been handed
that very pool by connection_from_host() and is about to take a connection
from it.  That handler then fails with ClosedPoolError ("Pool is closed.")
for a delivery that should have gone through.

The receivers are plain http.server instances on 127.0.0.1 in this process.

CORPUS_FIXED=1 applies urllib3 1.26.16's change (urllib3/urllib3#2954,
backport of #2661): PoolManager no longer closes evicted pools; each
HTTPConnectionPool closes its connections from a weakref.finalize once
nothing references it any more.
"""
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib3
from urllib3 import connectionpool, poolmanager
from urllib3._collections import RecentlyUsedContainer

RECEIVERS = 16
HANDLERS = 8
EVENTS = 320

if os.environ.get("CORPUS_FIXED") == "1":
    def _close_pool_connections(pool):
        """Drain a queue of connections and close each one (1.26.16)."""
        try:
            while True:
                conn = pool.get(block=False)
                if conn:
                    conn.close()
        except connectionpool.queue.Empty:
            pass

    _pool_init = connectionpool.HTTPConnectionPool.__init__

    def _pool_init_fixed(self, *args, **kwargs):
        _pool_init(self, *args, **kwargs)
        # 1.26.16: close the pooled connections when the pool object goes away
        weakref.finalize(self, _close_pool_connections, self.pool)

    def _pool_close_fixed(self):
        if self.pool is None:
            return
        old_pool, self.pool = self.pool, None
        _close_pool_connections(old_pool)

    connectionpool.HTTPConnectionPool.__init__ = _pool_init_fixed
    connectionpool.HTTPConnectionPool.close = _pool_close_fixed

    _manager_init = poolmanager.PoolManager.__init__

    def _manager_init_fixed(self, num_pools=10, headers=None, **connection_pool_kw):
        _manager_init(self, num_pools, headers, **connection_pool_kw)
        # 1.26.16: evicted pools are not closed by the manager any more
        self.pools = RecentlyUsedContainer(num_pools)

    poolmanager.PoolManager.__init__ = _manager_init_fixed


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"ack %d" % self.server.server_address[1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_receivers():
    urls = []
    for _ in range(RECEIVERS):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        urls.append("http://127.0.0.1:%d/hook" % server.server_address[1])
    return urls


def main():
    urls = start_receivers()
    http = urllib3.PoolManager(num_pools=4, retries=False)

    def deliver(event):
        url = urls[event % len(urls)]
        reply = http.request("POST", url, body=b'{"event": %d}' % event,
                             headers={"Content-Type": "application/json"})
        assert reply.status == 200, reply.status
        return url, reply.data

    with ThreadPoolExecutor(max_workers=HANDLERS, thread_name_prefix="dispatch") as pool:
        results = list(pool.map(deliver, range(EVENTS)))  # re-raises a handler's error
    for url, body in results:
        assert body == b"ack " + url.split(":")[2].split("/")[0].encode(), (url, body)


if __name__ == "__main__":
    main()
