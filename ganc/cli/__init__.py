"""The `ganc` command line, the house's face: the only part of ganc/ that may import compression/,
service/ and workers/, and it does so inside the commands that need them, so `ganc --help` stays fast."""
