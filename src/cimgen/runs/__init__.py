"""Files in, one stage, a folder out: what every command and the web editor call."""
