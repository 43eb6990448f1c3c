#!/usr/bin/env python3
"""udsrpc.py - a small udsrpcd client, Python standard library only.

udsrpcd speaks JSON-RPC 2.0 over a Unix socket, one JSON text per line each
way. Copy this file next to your program:

    from udsrpc import Client, RpcError

    with Client() as c:                    # socket as udsrpcd resolves it
        print(c.call("ping"))              # 'pong'
        c.call("config.set", key="app/mode", value="blue")
        print(c.call("config.get", key="app/mode")["value"])
        try:
            c.call("config.get", key="app/nothing")
        except RpcError as e:
            print(e.code, e.message)       # -32010 Not found
        c.subscribe("config")
        for event in c.events(count=1):    # blocks until one arrives
            print(event)

Or run it: python3 udsrpc.py [-s SOCKET] {call,watch,demo} ...
"""

import argparse
import collections
import json
import os
import socket
import struct
import sys

__all__ = ["Client", "RpcError", "UntrustedDaemon", "default_socket_path"]

PERMISSION_DENIED = -32001
_DEFAULT = object()  # "the Client's timeout", where None means "no limit"


def default_socket_path():
    """The daemon's default socket, resolved as udsrpcd does (udsrpc(7), TRANSPORT)."""
    if os.environ.get("UDSRPC_SOCKET"):
        return os.environ["UDSRPC_SOCKET"]
    if os.environ.get("RUNTIME_DIRECTORY"):
        return os.environ["RUNTIME_DIRECTORY"].split(":")[0] + "/udsrpcd.sock"
    if os.geteuid() == 0:
        return "/run/udsrpcd.sock"
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.environ["XDG_RUNTIME_DIR"] + "/udsrpcd.sock"
    return "/tmp/udsrpcd-%d.sock" % os.geteuid()


class RpcError(Exception):
    """The daemon answered with a JSON-RPC error object."""

    def __init__(self, error):
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")
        super().__init__("%s (code %s)" % (self.message, self.code))


class UntrustedDaemon(ConnectionError):
    """The default path's daemon runs as neither root nor us (udsrpc(7), Client checks)."""


class Client:
    """One connection. Not thread-safe; use one Client per thread.

    Without a path, the default one, whose daemon must run as root or as
    our own uid (else UntrustedDaemon): nobody can squat another user's
    /tmp/udsrpcd-UID.sock.
    """

    def __init__(self, path=None, timeout=5.0):
        self.path = path or default_socket_path()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
            if not path:
                self._check_owner()
        except OSError:
            self._sock.close()
            raise
        # Our own line buffer, not makefile(): after a timeout in the middle
        # of a line, a socket file refuses every later read.
        self._buf = bytearray()
        self._timeout = timeout
        self._next_id = 1
        # Events that arrived while we waited for a reply.
        self._events = collections.deque()

    def _check_owner(self):
        creds = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        uid = struct.unpack("3i", creds)[1]
        if uid not in (0, os.geteuid()):
            raise UntrustedDaemon(
                "%s is served by uid %d, neither root nor you (uid %d): refusing to talk to it; "
                "pass -s %s if you trust it" % (self.path, uid, os.geteuid(), self.path))

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, message):
        line = json.dumps(message, separators=(",", ":")) + "\n"
        self._sock.sendall(line.encode())

    def _read(self, timeout=_DEFAULT):
        """The next line as JSON; timeout: seconds for this read only (default:
        the Client's). On socket.timeout what was read so far stays buffered."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end + 1])
                del self._buf[:end + 1]
                return json.loads(line)
            self._sock.settimeout(self._timeout if timeout is _DEFAULT else timeout)
            try:
                chunk = self._sock.recv(65536)
            finally:
                self._sock.settimeout(self._timeout)
            if not chunk:
                raise ConnectionError("udsrpcd closed the connection")
            self._buf += chunk

    def _reply(self):
        """The next reply; event notifications on the way are kept for events()."""
        while True:
            message = self._read()
            if isinstance(message, dict) and message.get("method") == "event" and "id" not in message:
                self._events.append(message["params"])
                continue
            return message

    def _request(self, method, params):
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        self._next_id += 1
        if params is not None:
            request["params"] = params
        return request

    def call(self, method, params=None, **named):
        """Call method with params (a dict or list) or keyword arguments; return the result."""
        request = self._request(method, named if params is None and named else params)
        self._send(request)
        reply = self._reply()
        if reply.get("id") != request["id"]:
            raise RpcError(reply.get("error") or {"code": None, "message": "reply for another request"})
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply["result"]

    def notify(self, method, params=None):
        """Send a notification: the daemon runs it and never answers."""
        request = self._request(method, params)
        del request["id"]
        self._send(request)

    def batch(self, calls):
        """calls: a list of (method, params). One batch on the wire; returns one
        entry per call, in order: the result, or an RpcError instance."""
        requests = [self._request(method, params) for method, params in calls]
        self._send(requests)
        reply = self._reply()
        if isinstance(reply, dict):  # the batch as a whole was refused
            raise RpcError(reply["error"])
        by_id = {r.get("id"): r for r in reply}
        return [RpcError(by_id[r["id"]]["error"]) if "error" in by_id[r["id"]] else by_id[r["id"]]["result"]
                for r in requests]

    def subscribe(self, *topics):
        """Subscribe to config, peer and/or daemon events; returns all topics now subscribed."""
        return self.call("events.subscribe", topics=list(topics))["topics"]

    def events(self, count=None, timeout=None):
        """Yield event params as they arrive, count of them (None: forever).
        timeout: seconds to wait for each (None: no limit); when it passes,
        socket.timeout is raised and the Client stays usable, with its own
        timeout for later calls."""
        seen = 0
        while count is None or seen < count:
            if self._events:
                yield self._events.popleft()
            else:
                message = self._read(timeout)
                if isinstance(message, dict) and message.get("method") == "event":
                    yield message["params"]
                else:
                    continue  # a reply nobody waits for
            seen += 1


def _print_json(value):
    print(json.dumps(value, separators=(",", ":")), flush=True)


def _demo(path):
    """A short tour: every step prints what it did."""
    with Client(path) as c:
        print("ping ->", c.call("ping"))
        me = c.call("peer.whoami")
        print("whoami -> uid %s, pid %s, exe %s" % (me["uid"], me["pid"], me["exe"]))
        rev = c.call("config.set", key="demo/colour", value="blue")["revision"]
        print("config.set demo/colour = blue -> revision", rev)
        print("config.get demo/colour ->", c.call("config.get", key="demo/colour")["value"])
        try:
            c.call("config.set", key="demo/colour", value="red", expect_revision=rev + 1000)
        except RpcError as e:
            print("config.set with a stale expect_revision ->", e.message, e.code)
        results = c.batch([("ping", None), ("config.list", {"prefix": "demo/"}), ("no.such.method", None)])
        print("batch ->", results[0], "|", [i["key"] for i in results[1]["items"]], "|", results[2])
        # Events: this connection subscribes, a second one makes a change.
        c.subscribe("config")
        with Client(path) as other:
            other.call("config.unset", key="demo/colour")
        for event in c.events(count=1, timeout=5):
            print("event ->", event["type"], event["key"], "revision", event["revision"])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="udsrpc.py", description="A tiny udsrpcd client.")
    parser.add_argument("-s", "--socket", help="socket path (default: as udsrpcd resolves it)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("call", help="call a method, print the result as JSON")
    p.add_argument("method")
    p.add_argument("params", nargs="?", help="params as a JSON object or array")
    p = sub.add_parser("watch", help="print events, one JSON line each")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.add_argument("topics", nargs="*", default=["config", "peer", "daemon"])
    sub.add_parser("demo", help="a short tour of the protocol")
    args = parser.parse_args(argv)
    if args.socket == "":
        parser.error("-s: empty socket path")
    # None: the default path, whose daemon Client checks.
    path = args.socket
    params = None
    if args.command == "call" and args.params:
        try:
            params = json.loads(args.params)
        except ValueError as e:
            parser.error("PARAMS is not JSON: %s" % e)

    try:
        if args.command == "demo":
            return _demo(path)
        with Client(path, timeout=None if args.command == "watch" else 5.0) as c:
            if args.command == "call":
                _print_json(c.call(args.method, params))
            else:
                c.subscribe(*args.topics)
                for event in c.events(count=args.count):
                    _print_json(event)
    except RpcError as e:
        print("udsrpc.py: %s: %s (code %s)" % (getattr(args, "method", args.command), e.message, e.code),
              file=sys.stderr)
        return 4 if e.code == PERMISSION_DENIED else 1
    except UntrustedDaemon as e:
        print("udsrpc.py: %s" % e, file=sys.stderr)
        return 3
    except (OSError, ConnectionError, ValueError) as e:
        print("udsrpc.py: %s: %s; is udsrpcd running? (-s or $UDSRPC_SOCKET)" % (path or default_socket_path(), e),
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
