"""MCP server for Xero Contacts, Contact Groups and Tracking Categories."""

__version__ = "0.1.0"
