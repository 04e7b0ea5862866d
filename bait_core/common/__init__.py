"""Small utilities with no imports from the rest of bait_core: thread limits (`threads`) and quoting
user values in messages (`quoting`)."""
