"""`make loadtest`: the production stack on this machine under a bounded, local load (README.md)."""
