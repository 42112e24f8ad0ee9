"""The WeCom edge: limits, the async API client, senders and the simulator."""
