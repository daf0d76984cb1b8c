"""The shared kernel: audit trail, state transitions, roles and access. Imported by every app; imports none."""
