"""The `safetwin` command: run, simulate, check-twin, settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.errors import SafeTwinError
from safetwin.settings import SafeTwinSettings, load

if TYPE_CHECKING:
    from safetwin.roles import Role

ROLES = ("all", "worker", "api", "vision")  # as safetwin.roles.ROLES, without importing the runtime

log = logging.getLogger("safetwin")


def _settings(args: argparse.Namespace, **overrides: Any) -> SafeTwinSettings:
    return load(args.config, secrets_dir=args.secrets_dir, **overrides)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("amqtt", "transitions", "httpx", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _until_signal(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set `stop`.

    A plain signal handler that hands over with call_soon_threadsafe, rather than the loop's
    add_signal_handler: that one depends on the process-wide wakeup fd, and in tests a Ctrl-C was
    now and then lost with the loop left idle.
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d received: stopping", signum)
        loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)


async def _run(settings: SafeTwinSettings, simulate: bool, dashboard: bool, role: Role = "all") -> None:
    from safetwin.runtime import SafeTwin

    app = SafeTwin.from_settings(settings)
    await _until_signal(app.stopping)

    async def announce() -> None:
        await app.ready.wait()
        where = app.api_url or "(no API)"
        print(
            f"\nSafeTwin is running.\n  Dashboard: {where}/\n  API docs:  {where}/api/v1/docs\n"
            f"  Role: {role}.  Devices in the twin: {len(app.twin.devices)}; simulators "
            f"{'on' if simulate else 'off'}.  Press Ctrl-C to stop.\n",
            flush=True,
        )

    task = asyncio.create_task(announce())
    try:
        await app.run(simulate=simulate, dashboard=dashboard, role=role)
    finally:
        task.cancel()


def cmd_run(args: argparse.Namespace) -> int:
    """Start SafeTwin: broker (embedded by default), ingest, history, API and dashboard."""
    overrides: dict[str, Any] = {}
    if args.twin:
        overrides["twin"] = {"path": args.twin}
    settings = _settings(args, **overrides)
    _setup_logging(settings.log_level)
    asyncio.run(
        _run(settings, simulate=args.simulate, dashboard=not args.no_dashboard, role=cast("Role", args.role))
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Publish simulated readings of the twin's devices to the configured broker."""
    from simulators import commands
    from simulators.publisher import simulate_main
    from twin.loader import load_twin_file
    from twin.twin import Twin

    if args.list_scenarios:
        print(commands.scenarios_text())
        return 0
    settings = _settings(args)
    _setup_logging(settings.log_level)
    if args.gateway:
        settings.simulator.gateway_batch = True
    if args.interval:
        settings.simulator.interval_s = args.interval
    if args.devices or args.rate:
        return commands.scale_command(
            settings,
            Path(args.twin or settings.twin.path),
            args.devices or 1000,
            args.rate or 1000.0,
            batch=args.batch,
            count=args.count,
            duration_s=args.duration,
        )
    if args.scenario:
        twin_path = Path(args.twin or settings.twin.path)
        return commands.scenario_main(
            settings, args.scenario, twin_path, args.speed, args.interval, gateway_batch=args.gateway
        )
    twin = Twin(load_twin_file(Path(args.twin or settings.twin.path)))
    simulate_main(settings, twin, args.duration)
    return 0


def cmd_check_twin(args: argparse.Namespace) -> int:
    """Validate a twin file and print what it holds."""
    from twin.loader import load_twin_file
    from twin.twin import Twin

    twin = Twin(load_twin_file(Path(args.file)))
    print(
        f"{args.file}: OK — {len(twin.sites)} sites, {len(twin.buildings)} buildings, "
        f"{len(twin.spaces)} spaces, {len(twin.devices)} devices"
    )
    return 0


def cmd_mqtt_auth(args: argparse.Namespace) -> int:
    """Write the Mosquitto password file and ACL from the twin, or print one device's password."""
    from core.contract import Topics
    from safetwin import mqttacl
    from twin.loader import load_twin_file
    from twin.twin import Twin

    settings = _settings(args)
    dev = settings.environment == "development"
    if args.device_password:
        print(mqttacl.device_password(mqttacl.device_secret(settings.mqtt_auth, dev), args.device_password))
        return 0
    twin = Twin(load_twin_file(Path(args.twin or settings.twin.path)))
    owner = None
    if args.chown:
        uid, _, gid = args.chown.partition(":")
        owner = (int(uid), int(gid or uid))
    topics = Topics(settings.mqtt.topic_prefix)
    paths = mqttacl.generate(twin, topics, settings.mqtt_auth, dev, args.out, owner)
    print(f"wrote {paths[0]} and {paths[1]}: {len(twin.devices)} devices, {len(twin.gateways)} gateways")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print the effective settings (secrets hidden)."""
    print(_settings(args).model_dump_json(indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safetwin", description="SafeTwin digital-twin safety monitoring")
    p.add_argument("--config", type=Path, help="YAML settings file (environment variables override it)")
    p.add_argument("--secrets-dir", type=Path, help="Directory of secret files, one per setting")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help=cmd_run.__doc__)
    run.add_argument("--simulate", action="store_true", help="Also run the device simulators")
    run.add_argument("--no-dashboard", action="store_true", help="Serve the API only")
    run.add_argument("--twin", type=Path, help="Twin YAML file (default: settings twin.path)")
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: everything; worker: ingest, rules, alarms, actuators, history; "
        "api: API and dashboard over the shared stores; vision: video analytics (docs/deployment.md)",
    )
    run.set_defaults(func=cmd_run)
    sim = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    sim.add_argument("--twin", type=Path, help="Twin YAML file (default: settings twin.path)")
    sim.add_argument("--duration", type=float, help="Seconds to run (default: until Ctrl-C)")
    sim.add_argument("--interval", type=float, help="Seconds between readings of one device")
    sim.add_argument("--gateway", action="store_true", help="Send gateway batches, one per site")
    sim.add_argument("--scenario", help="Run a scenario (name or YAML file) to its end; see --list-scenarios")
    sim.add_argument(
        "--speed", type=float, help="Scenario time acceleration: simulated seconds per wall second"
    )
    sim.add_argument("--list-scenarios", action="store_true", help="List the shipped scenarios")
    sim.add_argument("--devices", type=int, help="Scale mode: number of simulated devices")
    sim.add_argument("--rate", type=float, help="Scale mode: readings per second, all devices together")
    sim.add_argument(
        "--batch", type=int, nargs="?", const=500, default=0, help="Scale mode: gateway batches of N readings"
    )
    sim.add_argument("--count", type=int, help="Scale mode: stop after this many readings")
    sim.set_defaults(func=cmd_simulate)
    chk = sub.add_parser("check-twin", help=cmd_check_twin.__doc__)
    chk.add_argument("file", type=Path)
    chk.set_defaults(func=cmd_check_twin)
    auth = sub.add_parser("mqtt-auth", help=cmd_mqtt_auth.__doc__)
    auth.add_argument("--twin", type=Path, help="Twin YAML file (default: settings twin.path)")
    auth.add_argument("--out", type=Path, default=Path("var/mqtt-auth"), help="Where passwd and acl go")
    auth.add_argument("--chown", metavar="UID:GID", help="Owner of the files (the broker's user)")
    auth.add_argument("--device-password", metavar="ID", help="Print this device's password, write nothing")
    auth.set_defaults(func=cmd_mqtt_auth)
    st = sub.add_parser("settings", help=cmd_settings.__doc__)
    st.set_defaults(func=cmd_settings)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return int(args.func(args))
        return 130
    except (SafeTwinError, OSError) as err:
        print(f"safetwin: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
