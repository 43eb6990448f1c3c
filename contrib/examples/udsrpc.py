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

Follow config changes without missing one, across restarts of the daemon:

    for event in watch(prefix="app/", after_revision=rev, reconnect=True):
        print(event["key"], event["revision"])

Serve methods of your own through the daemon (udsrpc(7), PROVIDERS):

    p = Provider()
    @p.method({"name": "app.double", "params": [{"name": "n", "schema": {"type": "integer"}}],
               "result": {"name": "n", "schema": {"type": "integer"}}})
    def double(request):                   # request.caller: uid, gid, pid, ...
        return 2 * request.params["n"]     # or request.defer(), answer later
    p.provide()
    p.serve()

Or run it: python3 udsrpc.py [-s SOCKET] {call,watch,demo} ...
"""

import argparse
import collections
import json
import os
import socket
import struct
import sys
import time

__all__ = ["Client", "Provider", "Request", "RpcError", "UntrustedDaemon", "default_socket_path", "watch"]

PERMISSION_DENIED = -32001
METHOD_NOT_FOUND = -32601
HISTORY_COMPACTED = -32015
INTERNAL_ERROR = -32603
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

    def _keep(self, message):
        """Keep a message that is no reply for later: an event, for events(). True if kept."""
        if isinstance(message, dict) and message.get("method") == "event" and "id" not in message:
            self._events.append(message["params"])
            return True
        return False

    def _reply(self):
        """The next reply; event notifications on the way are kept for events()."""
        while True:
            message = self._read()
            if not self._keep(message):
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

    def subscribe(self, *topics, prefix=None, after_revision=None):
        """Subscribe to config, peer and/or daemon events; returns all topics now subscribed,
        and sets self.revision to the store's revision then. With config among the topics:
        prefix limits its events to keys under it; after_revision first replays the kept
        changes after that revision (RpcError -32015 when the history no longer has them)."""
        params = {"topics": list(topics)}
        if prefix is not None:
            params["prefix"] = prefix
        if after_revision is not None:
            params["after_revision"] = after_revision
        result = self.call("events.subscribe", params)
        self.revision = result.get("revision")
        return result["topics"]

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
                    self._keep(message)  # a reply nobody waits for is dropped
                    continue
            seen += 1


class WatchStuck(Exception):
    """watch(reconnect=True) was cut off twice after the same revision, with no
    newer revision yielded in between: the next revision's events are more
    than the daemon's max_output_bytes sends a subscriber, and resuming again
    would be cut at the same place. revision: the one too big; after: the
    notices' revision."""

    def __init__(self, revision, after):
        super().__init__("revision %d's events are more than the daemon's max_output_bytes sends a "
                         "subscriber (cut off twice after revision %d); raise limits.max_output_bytes "
                         "or list the store again" % (revision, after))
        self.revision, self.after = revision, after


def watch(path=None, prefix=None, after_revision=None, reconnect=False, max_backoff=5.0):
    """Yield the config events after after_revision (None: from now), then live ones.

    With reconnect, when the daemon goes away or cuts the watch off as a slow
    reader (the "overflow" notice), reconnect with backoff and resume after the
    last revision seen (cut off in the middle of a revision's events, after
    the one before it, skipping the events of it already yielded): no change
    is missed or repeated; cut off twice after the same revision with nothing
    newer yielded between, it raises WatchStuck instead of looping. RpcError with code
    HISTORY_COMPACTED (-32015) when the daemon's history no longer goes back
    that far: list again, and watch from the listing's revision. Without
    reconnect, the end of the connection raises ConnectionError.
    """
    last, delay = after_revision, 0.1
    # The keys yielded of revision key_rev (the newest yielded); skipping:
    # replaying it after a cut in its middle, where those are not repeated.
    key_rev, keys, skipping = None, set(), False
    # The newest revision yielded, and (revision, that) at the last overflow notice.
    printed, notice, overflowed = None, None, False
    while True:
        try:
            with Client(path, timeout=None) as c:
                c.subscribe("config", prefix=prefix, after_revision=last)
                if last is None:
                    last = c.revision
                # Cut off again and again, the wait keeps doubling.
                if not overflowed:
                    delay = 0.1
                overflowed = False
                for event in c.events():
                    if event.get("topic") == "daemon" and event.get("type") == "overflow":
                        rev = event.get("revision")
                        overflowed = True
                        if isinstance(rev, int) and reconnect:
                            if notice == (rev, printed):
                                raise WatchStuck(key_rev if key_rev is not None and key_rev > rev
                                                 else rev + 1, rev)
                            notice = (rev, printed)
                        if isinstance(rev, int) and last is not None and rev < last:
                            last, skipping = rev, True
                        raise ConnectionError("cut off as a slow reader after revision %s" % last)
                    if event.get("topic") == "config":
                        last = event["revision"]
                        if last != key_rev:
                            key_rev, keys, skipping = last, set(), False
                        if skipping and event.get("key") in keys:
                            continue
                        keys.add(event.get("key"))
                        if printed is None or last > printed:
                            printed = last
                    yield event
        except (OSError, ConnectionError):
            if not reconnect:
                raise
        time.sleep(delay)
        delay = min(delay * 2, max_backoff)


class Request:
    """One call the daemon forwarded to a Provider: method, params (None when
    the caller sent none), caller (the identity udsrpcd captured: a dict of
    id, uid, gid, pid, groups, user, comm, exe) and id (None for a
    notification, which is never answered). Answer it exactly once, with
    result() or error(), now or later and in any order."""

    def __init__(self, provider, message):
        self._provider = provider
        self.id = message.get("id")
        self.method = message["method"]
        self.params = message.get("params")
        self.caller = message["caller"]
        self.deferred = False
        self.answered = False

    @property
    def is_notification(self):
        return self.id is None

    def defer(self):
        """Keep the request to answer it later: the handler's return value is not the answer."""
        self.deferred = True

    def _answer(self, member, value):
        if self.answered:
            raise RuntimeError("%s: answered already" % self.method)
        self.answered = True
        if self.id is not None:
            self._provider._send({"jsonrpc": "2.0", "id": self.id, member: value})

    def result(self, value=None):
        """Answer with a result (udsrpcd checks it against the method's result schema)."""
        self._answer("result", value)

    def error(self, code, message, data=None):
        """Answer with an error: any code, reaching the caller as it is."""
        error = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self._answer("error", error)


class Provider(Client):
    """A connection that serves methods of its own through udsrpcd
    (udsrpc(7), PROVIDERS). Register OpenRPC method objects with handlers,
    provide() them, then serve(). A handler gets a Request; what it returns
    is the result, an RpcError it raises is the error (any other exception:
    -32603), unless it called request.defer() to answer later. It may also
    call methods (call, publish) meanwhile: forwarded calls wait for serve().
    """

    def __init__(self, path=None, timeout=5.0):
        super().__init__(path, timeout)
        self._handlers = {}
        self._new_methods, self._new_topics = [], []
        self._calls = collections.deque()  # forwarded while we waited for a reply
        self._stop = False

    def add_method(self, method, handler):
        """method: an OpenRPC 1.2.6 Method Object (a dict with name, params,
        result, ...), sent as it is by the next provide(); handler(request)."""
        name = method["name"]
        if name in self._handlers:
            raise ValueError("%s: registered already" % name)
        self._handlers[name] = handler
        self._new_methods.append(method)

    def method(self, method):
        """add_method as a decorator."""
        def register(handler):
            self.add_method(method, handler)
            return handler
        return register

    def add_topic(self, topic):
        """A topic to publish on, provided by the next provide()."""
        self._new_topics.append(topic)

    def provide(self):
        """rpc.provide for everything added since the last call; returns what
        this connection provides now. All or nothing: on an RpcError (-32013
        a name taken, -32001 not allowed) those methods are forgotten."""
        methods, topics = self._new_methods, self._new_topics
        self._new_methods, self._new_topics = [], []
        try:
            return self.call("rpc.provide", methods=methods, topics=topics)
        except RpcError:
            for m in methods:
                self._handlers.pop(m["name"], None)
            raise

    def publish(self, topic, event):
        """events.publish on a topic this connection provides; returns the number of subscribers."""
        return self.call("events.publish", topic=topic, event=event)["subscribers"]

    def _keep(self, message):
        if isinstance(message, dict) and "method" in message and isinstance(message.get("caller"), dict):
            self._calls.append(message)
            return True
        return super()._keep(message)

    def _handle(self, message):
        request = Request(self, message)
        handler = self._handlers.get(request.method)
        if handler is None:  # udsrpcd forwards only what we provide
            request.error(METHOD_NOT_FOUND, "Method not found")
            return
        try:
            value = handler(request)
        except RpcError as e:
            if not request.answered:
                request.error(e.code, e.message, e.data)
            return
        except Exception as e:  # the handler's bug is the caller's -32603, not the provider's end
            print("udsrpc.py: %s: %r" % (request.method, e), file=sys.stderr)
            if not request.answered:
                request.error(INTERNAL_ERROR, "Internal error", {"reason": str(e)})
            return
        if not request.answered and not request.deferred:
            request.result(value)

    def dispatch(self, timeout=_DEFAULT):
        """Read one message and run the handler if it is a forwarded call
        (True); events are kept for events() (False). socket.timeout when
        nothing came within timeout (seconds; default: the Provider's)."""
        if self._calls:
            self._handle(self._calls.popleft())
            return True
        message = self._read(timeout)
        if self._keep(message) and self._calls:
            self._handle(self._calls.popleft())
            return True
        return False

    def serve(self, count=None, timeout=None):
        """Answer forwarded calls until stop(), count of them were handled, or
        the daemon closes the connection (ConnectionError). timeout: seconds
        to wait for each message (None: no limit). Returns how many were handled."""
        handled = 0
        self._stop = False
        while not self._stop and (count is None or handled < count):
            handled += self.dispatch(timeout)
        return handled

    def stop(self):
        """Make serve() return after the call at hand (e.g. from a handler)."""
        self._stop = True


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
    parser.add_argument("-t", "--timeout", type=float, default=5.0,
                        help="seconds to wait for an answer (default 5; 0: no limit; watch: none)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("call", help="call a method, print the result as JSON")
    p.add_argument("method")
    p.add_argument("params", nargs="?", help="params as a JSON object or array")
    p = sub.add_parser("watch", help="print events, one JSON line each")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.add_argument("--prefix", help="config events of keys under PREFIX only")
    p.add_argument("--after-revision", type=int, help="first the kept changes after this revision")
    p.add_argument("--reconnect", action="store_true",
                   help="when the daemon goes away or cuts the watch off, resume after the last revision seen")
    p.add_argument("topics", nargs="*", default=None)
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

    resume = args.command == "watch" and (args.prefix is not None or args.after_revision is not None
                                           or args.reconnect)
    if args.command == "watch" and not args.topics:
        args.topics = ["config"] if resume else ["config", "peer", "daemon"]
    if resume and args.topics != ["config"]:
        parser.error("--prefix, --after-revision and --reconnect watch the topic config only")
    try:
        if args.command == "demo":
            return _demo(path)
        if resume:
            events = watch(path, args.prefix, args.after_revision, args.reconnect)
            for seen, event in enumerate(events, 1):
                _print_json(event)
                if args.count and seen >= args.count:
                    break
            return 0
        timeout = None if args.command == "watch" or args.timeout <= 0 else args.timeout
        with Client(path, timeout=timeout) as c:
            if args.command == "call":
                _print_json(c.call(args.method, params))
            else:
                c.subscribe(*args.topics)
                for event in c.events(count=args.count):
                    _print_json(event)
    except RpcError as e:
        print("udsrpc.py: %s: %s (code %s)" % (getattr(args, "method", args.command), e.message, e.code),
              file=sys.stderr)
        if e.code == HISTORY_COMPACTED:
            print("udsrpc.py: the history keeps only changes after revision %s; list again"
                  % (e.data or {}).get("compact_revision"), file=sys.stderr)
        return 4 if e.code == PERMISSION_DENIED else 1
    except WatchStuck as e:
        print("udsrpc.py: watch: %s" % e, file=sys.stderr)
        return 1
    except UntrustedDaemon as e:
        print("udsrpc.py: %s" % e, file=sys.stderr)
        return 3
    except socket.timeout:
        print("udsrpc.py: %s: no answer in %g s (-t)" % (getattr(args, "method", args.command), args.timeout),
              file=sys.stderr)
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
