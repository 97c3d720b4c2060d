"""The application database: models, engine, sessions and migrations."""
