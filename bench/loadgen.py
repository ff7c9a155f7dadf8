"""Load generator and counting subscriber, run as separate processes so they do not share our GIL.

    python -m bench.loadgen publish --port P --prefix X --mode single --count N --devices a,b,c
    python -m bench.loadgen count --port P --topic 'X/#' --count N
Each prints one JSON line with its figures when done.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import Topics


def _client(client_id: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.max_queued_messages_set(0)
    c.max_inflight_messages_set(2000)
    return c


def publish(args: argparse.Namespace) -> dict[str, float]:
    """Publish `count` readings, as single messages or gateway batches, as fast as the broker takes them."""
    topics = Topics(args.prefix)
    devices = args.devices.split(",")
    metric = args.metric
    base = int(time.time() * 1000) - args.count
    messages: list[tuple[str, bytes]] = []
    if args.mode == "single":
        for i in range(args.count):
            dev = devices[i % len(devices)]
            body = orjson.dumps({"ts": base + i, "metrics": {metric: float(2 + i % 8)}})
            messages.append((topics.telemetry(dev), body))
    else:
        for start in range(0, args.count, args.batch):
            readings = [
                {
                    "device_id": devices[i % len(devices)],
                    "ts": base + i,
                    "metrics": {metric: float(2 + i % 8)},
                }
                for i in range(start, min(start + args.batch, args.count))
            ]
            messages.append((topics.gateway_batch("bench-gw"), orjson.dumps({"readings": readings})))
    client = _client(f"bench-pub-{time.monotonic_ns()}")
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    t0 = time.perf_counter()
    infos = [client.publish(topic, body, qos=args.qos) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(timeout=120)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return {
        "messages": len(messages),
        "seconds": elapsed,
        "messages_per_s": len(messages) / elapsed,
        "start_epoch": time.time() - elapsed,
    }


def count(args: argparse.Namespace) -> dict[str, float]:
    """Subscribe, announce readiness on stdout, count `count` messages, report the rate."""
    done = threading.Event()
    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        if state["n"] == 0:
            state["first"] = time.time()
        state["n"] += 1
        if state["n"] >= args.count:
            state["last"] = time.time()
            done.set()

    client = _client(f"bench-sub-{time.monotonic_ns()}")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(args.topic, qos=args.qos)
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    time.sleep(0.5)
    print("ready", flush=True)
    ok = done.wait(timeout=300)
    client.loop_stop()
    return {
        "received": state["n"],
        "complete": float(ok),
        "first_epoch": state["first"],
        "last_epoch": state["last"],
    }


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--port", type=int, required=True)
    pub.add_argument("--prefix", default="safetwin")
    pub.add_argument("--mode", choices=["single", "batch"], default="single")
    pub.add_argument("--count", type=int, required=True)
    pub.add_argument("--batch", type=int, default=100)
    pub.add_argument("--devices", required=True)
    pub.add_argument("--metric", default="co")
    pub.add_argument("--qos", type=int, default=1)
    cnt = sub.add_parser("count")
    cnt.add_argument("--port", type=int, required=True)
    cnt.add_argument("--topic", required=True)
    cnt.add_argument("--count", type=int, required=True)
    cnt.add_argument("--qos", type=int, default=1)
    args = p.parse_args()
    result = publish(args) if args.cmd == "publish" else count(args)
    print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
