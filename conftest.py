"""This repository's own pytest setup. quantbench's options, fixtures and gate come from its
installed plugin (entry point ``pytest11``); nothing here is needed to use quantbench elsewhere."""
