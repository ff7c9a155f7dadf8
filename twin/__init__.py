"""The digital twin: sites, buildings, floors, spaces and devices, and their live state."""
