"""What leaves the gateway for AGORA: the adapter, the per-file dispatcher."""
