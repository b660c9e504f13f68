"""The Xero client layer: one httpx2 client, auth, tenant and Idempotency-Key injection. Knows nothing of MCP."""
