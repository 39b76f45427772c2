"""The receiver's database: tables, engine and migrations."""
