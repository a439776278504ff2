"""sfsync: score customer health from product usage and write it back into Salesforce."""

__version__ = "0.1.0"
