"""Device simulators: a seeded sensor value model and a gateway-like MQTT publisher for the whole fleet."""

from simulators.gateway import DevicePublisher
from simulators.publisher import run_simulator, simulate_main
from simulators.sensors import GasEvent, Reading, SensorFleet

__all__ = ["DevicePublisher", "GasEvent", "Reading", "SensorFleet", "run_simulator", "simulate_main"]
