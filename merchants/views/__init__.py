"""The merchant dashboard (Django sessions, server-rendered pages). ``base`` holds the access rules
every page goes through; the other modules are its sections."""
