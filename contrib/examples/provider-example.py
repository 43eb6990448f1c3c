#!/usr/bin/env python3
"""provider-example.py - serve methods of your own through udsrpcd, in Python.

    python3 provider-example.py [-s SOCKET] [--count N]

Provides, until interrupted (or N calls answered):

    example.greet {"name"}      -> "hello NAME, uid UID" (the caller's uid, as
                                   udsrpcd saw it); publishes {"name","uid"}
                                   on topic "example"
    example.wait {}             -> held until someone calls example.release
    example.release {"value"}   -> answers every held example.wait with value
                                   (newest first: answers go in any order);
                                   returns how many it released

udsrpcd checks each caller against its policy (by default only root and the
daemon's own user may call provided methods, and provide them) and the
params against the schemas below before anything reaches this process.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udsrpc import Provider, RpcError  # noqa: E402  (udsrpc.py sits next to this file)


def string_param(name):
    return {"name": name, "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}


def main():
    parser = argparse.ArgumentParser(description="An example udsrpcd provider.")
    parser.add_argument("-s", "--socket", help="socket path (default: as udsrpcd resolves it)")
    parser.add_argument("--count", type=int, help="stop after answering this many calls")
    args = parser.parse_args()

    p = Provider(args.socket)
    held = []

    @p.method({"name": "example.greet", "summary": "Greet the caller by name",
               "params": [string_param("name")],
               "result": {"name": "greeting", "schema": {"type": "string"}}})
    def greet(request):
        uid = request.caller["uid"]
        p.publish("example", {"name": request.params["name"], "uid": uid})
        return "hello %s, uid %d" % (request.params["name"], uid)

    @p.method({"name": "example.wait", "summary": "Wait for example.release",
               "params": [], "result": {"name": "value", "schema": {"type": "string"}}})
    def wait(request):
        request.defer()  # answered by example.release, on another caller's call
        held.append(request)

    @p.method({"name": "example.release", "summary": "Answer every waiting example.wait",
               "params": [string_param("value")],
               "result": {"name": "released", "schema": {"type": "integer"}}})
    def release(request):
        n = len(held)
        while held:
            held.pop().result(request.params["value"])
        return n

    p.add_topic("example")
    try:
        provided = p.provide()
    except RpcError as e:
        print("provider-example.py: rpc.provide: %s (code %s)" % (e.message, e.code), file=sys.stderr)
        return 4 if e.code == -32001 else 1
    print("providing %s, topic %s" % (" ".join(provided["methods"]), " ".join(provided["topics"])),
          file=sys.stderr, flush=True)
    try:
        p.serve(count=args.count)
    except ConnectionError:
        print("provider-example.py: udsrpcd closed the connection", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
