"""Actuator drivers (fans, speakers, valves, relays, notifications) and the command lifecycle."""
