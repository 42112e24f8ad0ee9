"""The wecom tests use the shared fixtures of tests/simulated_wecom.py."""
