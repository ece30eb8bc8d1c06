"""Loopback emulators of the Azure APIs the providers talk to, for tests, benchmarks and demos.

``base.py``: the loopback HTTP server both stand on (threads, TLS, recording, fault draws, control
endpoints, state files). ``arm/``: Azure Resource Manager (managed images, VMs, Compute Gallery).
``classic/``: the classic Service Management XML API. They never print and never read the environment.
"""
