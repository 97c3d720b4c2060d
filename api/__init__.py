"""The HTTP API: a thin FastAPI service over the data layer and Temporal."""
