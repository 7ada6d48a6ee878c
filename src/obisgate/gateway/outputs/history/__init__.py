"""The history output: logged signals into the SQLite history store."""
