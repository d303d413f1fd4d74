"""State: the SQLite store, file names, safe files, the run lock, the one clock, scratch
space, the log file."""
