"""The MCP layer: tools/list and tools/call over the SDK's low-level Server. Knows nothing of Xero."""
