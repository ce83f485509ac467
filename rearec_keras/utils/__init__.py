"""Small shared helpers (argument checks, padding-column masking)."""
