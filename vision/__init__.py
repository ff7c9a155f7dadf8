"""Video analytics: camera sources, detectors and the detection events they publish."""
