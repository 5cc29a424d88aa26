"""core: settings, password hashing, key files, Beijing time, base exceptions. Imports nothing of ours."""
